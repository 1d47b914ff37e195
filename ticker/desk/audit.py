"""The audit log page and its CSV export.

Records come from the `{p}audit` stream, newest first, filtered by channel,
by who acted and by day. A day is a calendar day in the time zone of the
chosen channel (else of the first channel), shown on the page.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ticker.desk.i18n import Translator, clock, translator
from ticker.desk.pages import render, require_admin
from ticker.model import CHANNEL_ID, EVENT_ID, Channel, parse_event_id
from ticker.services import services
from ticker.store.desk import AuditEntry, DeskStore

PAGE = 100
CSV_MAX = 50_000
SCAN_MAX = 20_000  # records looked at for one page, however selective the filter
BATCH = 500
ITEM_FIELDS = ("text", "url", "priority", "expires_at")
AUTO = "auto"  # the filter value for changes nobody typed: expiry


@dataclass(frozen=True)
class Filters:
    channel: str = ""
    actor: str = ""  # "user:NAME", "token:NAME", "cli", AUTO
    day: date | None = None
    before: str = ""

    def query(self, **changes: str) -> str:
        values = {
            "channel": self.channel,
            "user": self.actor,
            "day": self.day.isoformat() if self.day else "",
            "before": self.before,
            **changes,
        }
        return "&".join(f"{k}={v}" for k, v in values.items() if v)


def read_filters(request: Request) -> Filters:
    q = request.query_params
    channel = q.get("channel", "")
    day: date | None = None
    try:
        day = date.fromisoformat(q["day"]) if q.get("day") else None
    except ValueError:
        day = None
    before = q.get("before", "")
    return Filters(
        channel=channel if CHANNEL_ID.match(channel) else "",
        actor=q.get("user", "")[:200],
        day=day,
        before=before if EVENT_ID.match(before) else "",
    )


@dataclass
class AuditRow:
    id: str
    when: str  # local, for people
    when_utc: str  # RFC 3339, for the CSV
    type: str
    channel: str
    item: str
    actor: str
    who: str
    text: str = ""
    reason: str = ""
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # field, before, after
    detail: str = ""


def who(actor: str, entry_type: str, t: Translator) -> str:
    kind, _, name = actor.partition(":")
    if kind == "user" and name:
        return name
    if kind == "token" and name:
        return t("token %(name)s", name=name)
    if actor == "cli":
        return t("command line")
    if actor == "system":
        return t("system")
    if not actor and entry_type == "expire":
        return t("automatic expiry")
    return actor or t("system")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def row(entry: AuditEntry, tz: ZoneInfo, t: Translator) -> AuditRow:
    moment = datetime.fromtimestamp(parse_event_id(entry.id)[0] / 1000, UTC)
    new = _json(entry.data)
    old = _json(entry.old)
    out = AuditRow(
        id=entry.id,
        when=clock(moment, str(tz), t.lang, "yyyy-MM-dd HH:mm:ss"),
        when_utc=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        type=entry.type,
        channel=entry.channel,
        item="" if entry.item == entry.id else entry.item,
        actor=entry.actor,
        who=who(entry.actor, entry.type, t),
    )
    if entry.type == "publish":
        out.text = _text(new.get("text"))
        out.changes = [(f, "", _text(new.get(f))) for f in ITEM_FIELDS if new.get(f)]
    elif entry.type == "update":
        out.text = _text(new.get("text"))
        out.changes = [
            (f, _text(old.get(f)), _text(new.get(f)))
            for f in ITEM_FIELDS
            if old.get(f) != new.get(f)
        ]
    elif entry.type in ("retract", "expire"):
        out.text = _text(old.get("text"))
        out.reason = _text(new.get("reason"))
    elif entry.type == "channel":
        out.item = ""
        out.changes = [(k, _text(old.get(k)), _text(v)) for k, v in new.items() if old.get(k) != v]
    else:  # user, token: what an admin did
        out.detail = ", ".join(f"{k}: {_fmt(v)}" for k, v in new.items())
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value) or "*"
    return str(value)


def _json(raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _matches(entry: AuditEntry, filters: Filters) -> bool:
    if filters.channel and entry.channel != filters.channel:
        return False
    if filters.actor == AUTO:
        return entry.actor == ""
    return not filters.actor or entry.actor == filters.actor


def _zone(channels: list[Channel], filters: Filters) -> ZoneInfo:
    chosen = next((c for c in channels if c.id == filters.channel), None)
    chosen = chosen or next((c for c in channels if c.id == "main"), None)
    chosen = chosen or (channels[0] if channels else None)
    return ZoneInfo(chosen.timezone if chosen else "UTC")


def _bounds(filters: Filters, tz: ZoneInfo) -> tuple[str, str]:
    newest, oldest = "+", "-"
    if filters.day is not None:
        start = datetime.combine(filters.day, datetime.min.time(), tz)
        end = start + timedelta(days=1)
        newest = str(int(end.timestamp() * 1000) - 1)  # an end id without seq: all of that ms
        oldest = f"{int(start.timestamp() * 1000)}-0"
    if filters.before:
        newest = f"({filters.before}"
    return newest, oldest


async def matching(
    desk: DeskStore, filters: Filters, tz: ZoneInfo, limit: int, scan_max: int
) -> AsyncIterator[AuditEntry]:
    """Matching records, newest first, read from Redis in batches."""
    newest, oldest = _bounds(filters, tz)
    found = scanned = 0
    while found < limit and scanned < scan_max:
        batch = await desk.audit(newest, oldest, BATCH)
        if not batch:
            return
        for entry in batch:
            scanned += 1
            if _matches(entry, filters):
                found += 1
                yield entry
                if found >= limit:
                    return
        if len(batch) < BATCH:
            return
        newest = f"({batch[-1].id}"


async def audit_page(request: Request) -> Response:
    session = await require_admin(request)
    store = services(request).store
    t = translator(request)
    filters = read_filters(request)
    channels = await store.channels()
    tz = _zone(channels, filters)
    desk = DeskStore(store)
    rows = [row(e, tz, t) async for e in matching(desk, filters, tz, PAGE + 1, SCAN_MAX)]
    older = rows[PAGE - 1].id if len(rows) > PAGE else ""  # the next page starts after it
    actors = [("user:" + u.name, u.name) for u in await store.list_users()]
    actors += [
        ("token:" + tk.name, t("token %(name)s", name=tk.name)) for tk in await store.list_tokens()
    ]
    actors += [("cli", t("command line")), (AUTO, t("automatic expiry"))]
    return render(
        request,
        "audit.html",
        {
            "page": "audit",
            "rows": rows[:PAGE],
            "filters": filters,
            "channels": channels,
            "actors": actors,
            "tz": str(tz),
            "older": filters.query(before=older) if older else "",
            "csv": filters.query(before=""),
        },
        session=session,
    )


CSV_COLUMNS = [
    "time_utc",
    "action",
    "channel",
    "item",
    "who",
    "actor",
    "text",
    "reason",
    "old_text",
    "new_text",
    "old_url",
    "new_url",
    "old_priority",
    "new_priority",
    "old_expires_at",
    "new_expires_at",
    "detail",
]


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: an item text
    # must never become one (OWASP "CSV injection").
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def csv_line(r: AuditRow) -> str:
    changes = {f: (before, after) for f, before, after in r.changes}
    values = {
        "time_utc": r.when_utc,
        "action": r.type,
        "channel": r.channel,
        "item": r.item,
        "who": r.who,
        "actor": r.actor,
        "text": r.text,
        "reason": r.reason,
        "detail": r.detail,
    }
    for f in ITEM_FIELDS:
        before, after = changes.get(f, ("", ""))
        values[f"old_{f}"], values[f"new_{f}"] = before, after
    buffer = io.StringIO()
    csv.writer(buffer).writerow([_cell(values.get(c, "")) for c in CSV_COLUMNS])
    return buffer.getvalue()


async def audit_csv(request: Request) -> Response:
    await require_admin(request)
    store = services(request).store
    t = translator(request)
    filters = read_filters(request)
    tz = _zone(await store.channels(), filters)
    desk = DeskStore(store)
    # Read before answering, so that a Redis failure is an error page, not a cut file.
    lines = [csv_line(row(e, tz, t)) async for e in matching(desk, filters, tz, CSV_MAX, 10**9)]

    async def body() -> AsyncIterator[bytes]:
        yield "\ufeff".encode()  # a BOM, so that spreadsheets read the Arabic as UTF-8
        yield ",".join(CSV_COLUMNS).encode() + b"\r\n"
        for line in lines:
            yield line.encode()

    name = "ticker-audit" + (f"-{filters.channel}" if filters.channel else "")
    name += f"-{filters.day.isoformat()}" if filters.day else ""
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
