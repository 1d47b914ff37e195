"""Items as the desk shows them: the widget's `HH:MM` line, time left, recently ended."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ticker.desk.i18n import Translator, clock
from ticker.model import (
    SNAPSHOT_MAX,
    Channel,
    EventType,
    Item,
    newest_first,
    parse_event_id,
    parse_rfc3339,
)
from ticker.store import Store
from ticker.store.desk import DeskStore

LIFETIME_HOURS = (1, 3, 6, 12, 24)
ENDED_WINDOW_MS = 24 * 3600 * 1000
ENDED_MAX = 20
ENDINGS = frozenset({EventType.RETRACT, EventType.EXPIRE})


def hhmm(moment: datetime, timezone: str, lang: str) -> str:
    """The widget's time: 24-hour `HH:MM` in the channel's time zone, Latin digits."""
    return clock(moment, timezone, lang)


def time_left(seconds: float, t: Translator) -> str:
    if seconds < 60:
        return t("under a minute")
    minutes = int(seconds // 60)
    if minutes < 60:
        return t("%(m)s min", m=minutes)
    return t("%(h)s h %(m)s min", h=minutes // 60, m=minutes % 60)


@dataclass(frozen=True)
class ItemView:
    id: str
    channel: Channel
    text: str
    url: str | None
    priority: str
    created_at: str
    updated_at: str
    expires_at: str
    time: str  # HH:MM
    left: str
    corrected: bool

    @property
    def edit_url(self) -> str:
        return f"/desk/items/{self.channel.id}/{self.id}/edit"

    @property
    def retract_url(self) -> str:
        return f"/desk/items/{self.channel.id}/{self.id}/retract"

    @property
    def ttl_hours_left(self) -> float:
        return (parse_rfc3339(self.expires_at).timestamp() - time.time()) / 3600


def item_view(item: Item, channel: Channel, t: Translator) -> ItemView:
    created = parse_rfc3339(item.created_at)
    expires = parse_rfc3339(item.expires_at)
    return ItemView(
        id=item.id,
        channel=channel,
        text=item.text,
        url=item.url,
        priority=item.priority,
        created_at=item.created_at,
        updated_at=item.updated_at,
        expires_at=item.expires_at,
        time=hhmm(created, channel.timezone, t.lang),
        left=time_left(expires.timestamp() - time.time(), t),
        corrected=item.corrected,
    )


async def live_items(store: Store, channels: list[Channel], t: Translator) -> list[ItemView]:
    """The current items of these channels, newest first."""
    items: list[Item] = []
    for channel in channels:
        items.extend((await store.snapshot(channel.id, SNAPSHOT_MAX)).live)
    by_id = {c.id: c for c in channels}
    return [item_view(item, by_id[item.channel], t) for item in newest_first(items)]


@dataclass(frozen=True)
class EndedView:
    id: str
    channel: Channel
    text: str
    kind: EventType  # RETRACT or EXPIRE
    reason: str | None
    published: str  # HH:MM of the first publication
    time: str  # HH:MM of the end


async def recently_ended(desk: DeskStore, channels: list[Channel], lang: str) -> list[EndedView]:
    """Items of these channels retracted or expired in the last day, newest first."""
    by_id = {c.id: c for c in channels}
    since = int(time.time() * 1000) - ENDED_WINDOW_MS
    out: list[EndedView] = []
    for entry in await desk.audit(oldest=f"{since}-0", count=1000):
        channel = by_id.get(entry.channel)
        if entry.type not in ENDINGS or channel is None or not entry.old:
            continue
        kind = EventType(entry.type)
        # Read loosely, not as an Item: audit records outlive the log by a year.
        old = json.loads(entry.old)
        reason = json.loads(entry.data).get("reason") if kind is EventType.RETRACT else None
        ended_at = datetime.fromtimestamp(parse_event_id(entry.id)[0] / 1000, UTC)
        created = old.get("created_at")
        published = hhmm(parse_rfc3339(created), channel.timezone, lang) if created else ""
        out.append(
            EndedView(
                entry.item,
                channel,
                old.get("text", ""),
                kind,
                reason,
                published,
                hhmm(ended_at, channel.timezone, lang),
            )
        )
        if len(out) >= ENDED_MAX:
            break
    return out
