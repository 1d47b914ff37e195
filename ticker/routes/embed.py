"""The widget and its pages: `/widget.js`, `/widget/{name}.css`, `/embed/{channels}`, `/demo`.

The widget's source (web/widget/) is read once, on first use: the stylesheet is
inlined into the script, the script minified (rjsmin) and gzipped, and every response after
that is bytes from memory with a strong ETag. docs/widget.md is the embedder's guide.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import rcssmin
import rjsmin
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ticker.assets import WEB_DIR, templates
from ticker.bidi import AFTER_LATIN, DIGIT_GROUP, isolate_digits
from ticker.model import CHANNEL_ID, Channel, FieldError, parse_event_id, parse_rfc3339
from ticker.problems import Problem
from ticker.routes.common import PUBLIC_HEADERS, public_base, services, whole_number

WIDGET_DIR = WEB_DIR / "widget"
CSS_SLOT = "'/*@css*/'"  # where breaking-ticker.js takes its stylesheet
DIGITS_SLOT = "'/*@digits*/'"  # where it takes the digit-group rule (ticker/bidi.py)
LATIN_SLOT = "'/*@after-latin*/'"  # and the groups it leaves alone
SHORT_CACHE = "public, max-age=300"
IMMUTABLE = "public, max-age=31536000, immutable"
ASSET_HEADERS = {
    **PUBLIC_HEADERS,
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",  # host pages with COEP may load it too
    "Vary": "Accept-Encoding",
}
# Our pages load nothing but our own script, stylesheets and stream (docs/design.md, invariant 6).
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'"
)
EMBED_HEADERS = {
    "Content-Security-Policy": f"{PAGE_POLICY}; frame-ancestors *",  # any site may frame it
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=10",
}
DEMO_HEADERS = {
    "Content-Security-Policy": f"{PAGE_POLICY}; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
MAX_CHANNELS = 10
templates.env.filters["digits"] = isolate_digits  # digit groups left to right (ticker/bidi.py)
DEMO_CHANNELS = 12  # channels the demo offers to switch to


# Assets


@dataclass(frozen=True)
class Asset:
    """A file served from memory: its bytes, the same gzipped, and a hash naming the version."""

    body: bytes
    gzipped: bytes
    media_type: str
    version: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> Asset:
        version = hashlib.sha256(body).hexdigest()[:16]
        return cls(body, gzip.compress(body, 9, mtime=0), media_type, version)

    def response(self, request: Request, *, immutable: bool) -> Response:
        compressed = _accepts_gzip(request.headers.get("accept-encoding", ""))
        # Strong ETags name one representation, so the gzipped bytes get their own.
        etag = f'"{self.version}-gzip"' if compressed else f'"{self.version}"'
        headers = {
            **ASSET_HEADERS,
            "ETag": etag,
            "Cache-Control": IMMUTABLE if immutable else SHORT_CACHE,
        }
        if etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        if compressed:
            headers["Content-Encoding"] = "gzip"
        body = self.gzipped if compressed else self.body
        return Response(body, media_type=self.media_type, headers=headers)


def _accepts_gzip(header: str) -> bool:
    for part in header.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=").strip()
            return quality == "" or _quality(quality) > 0
    return False


def _quality(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 1.0


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _stylesheet(name: str) -> str:
    return rcssmin.cssmin((WIDGET_DIR / f"{name}.css").read_text("utf-8"))


def build_widget() -> Asset:
    """breaking-ticker.js with its stylesheet inlined, minified."""
    source = (WIDGET_DIR / "breaking-ticker.js").read_text("utf-8")
    if CSS_SLOT not in source:
        raise RuntimeError(f"web/widget/breaking-ticker.js lost its stylesheet slot {CSS_SLOT}")
    source = source.replace(CSS_SLOT, json.dumps(_stylesheet("breaking-ticker")), 1)
    if DIGITS_SLOT not in source:
        raise RuntimeError(f"web/widget/breaking-ticker.js lost its digit-group slot {DIGITS_SLOT}")
    source = source.replace(DIGITS_SLOT, json.dumps(DIGIT_GROUP.pattern), 1)
    if LATIN_SLOT not in source:
        raise RuntimeError(f"web/widget/breaking-ticker.js lost its slot {LATIN_SLOT}")
    source = source.replace(LATIN_SLOT, json.dumps(AFTER_LATIN.pattern), 1)
    script = rjsmin.jsmin(source, keep_bang_comments=True)
    return Asset.of(script.encode(), "text/javascript; charset=utf-8")


# Built on first use, not at import: importing the package (`ticker --version`, the CLI's
# other commands) must not read or minify assets.
@functools.cache
def widget() -> Asset:
    return build_widget()


@functools.cache
def styles() -> dict[str, Asset]:
    return {
        name: Asset.of(_stylesheet(name).encode(), "text/css; charset=utf-8")
        for name in ("breaking-ticker", "embed", "demo")
    }


def widget_url() -> str:
    return f"/widget-{widget().version}.js"


def style_url(name: str) -> str:
    return f"/widget/{name}.css?v={styles()[name].version}"


@functools.cache
def favicon() -> Asset:
    return Asset.of((WIDGET_DIR / "favicon.ico").read_bytes(), "image/vnd.microsoft.icon")


async def favicon_ico(request: Request) -> Response:
    # Browsers ask for /favicon.ico on every page of the origin: answer it, never a 404.
    return favicon().response(request, immutable=False)


async def widget_js(request: Request) -> Response:
    return widget().response(request, immutable=False)


async def widget_versioned(request: Request) -> Response:
    # An old version's URL (a page cached across a deploy) gets today's widget, briefly cached.
    current = widget()
    return current.response(request, immutable=request.path_params["version"] == current.version)


async def stylesheet(request: Request) -> Response:
    asset = styles().get(request.path_params["name"])
    if asset is None:
        raise Problem(404, f"There is no stylesheet {request.url.path}.")
    return asset.response(request, immutable=request.query_params.get("v") == asset.version)


# Options: the element's attributes, and the same names as query parameters of /embed


CHOICES = {
    "mode": ("list", "marquee"),
    "dir": ("rtl", "ltr"),
    "digits": ("latn", "arab"),
    "hour-cycle": ("h23", "h12"),
    "theme": ("light", "dark"),
}
LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$")
LABEL_MAX = 40
TEXT = {
    "ar": {"label": "عاجل", "corrected": "تصحيح", "empty": "لا أخبار عاجلة في الوقت الحالي"},
    "en": {"label": "Breaking", "corrected": "Corrected", "empty": "No breaking news right now"},
}
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@dataclass(frozen=True)
class Options:
    mode: str = "list"
    limit: int = 10
    lang: str | None = None
    dir: str | None = None
    timezone: str | None = None
    digits: str = "latn"
    hour_cycle: str = "h23"
    theme: str = "light"
    label: str | None = None

    def attributes(self) -> dict[str, str]:
        """The element's attributes; those left out default from the channel, as in /embed."""
        values = {
            "mode": self.mode,
            "limit": str(self.limit),
            "lang": self.lang,
            "dir": self.dir,
            "timezone": self.timezone,
            "digits": self.digits,
            "hour-cycle": self.hour_cycle,
            "theme": self.theme,
            "label": self.label,
        }
        return {name: value for name, value in values.items() if value is not None}


def parse_options(query: Mapping[str, str], **defaults: Any) -> Options:
    """Query parameters named like the attributes; a bad value is a 400 naming it (unknown
    parameters are ignored, so that links may carry tracking or cache-busting ones)."""
    values: dict[str, Any] = dict(defaults)
    errors: list[FieldError] = []
    for name, allowed in CHOICES.items():
        value = query.get(name)
        if value is None:
            continue
        if value in allowed:
            values[name.replace("-", "_")] = value
        else:
            errors.append(FieldError(name, f"must be {' or '.join(allowed)}"))
    if (limit := query.get("limit")) is not None:
        if (number := whole_number(limit, 1, 100)) is not None:
            values["limit"] = number
        else:
            errors.append(FieldError("limit", "must be a whole number from 1 to 100"))
    if (lang := query.get("lang")) is not None:
        if LANG_TAG.match(lang):
            values["lang"] = lang
        else:
            errors.append(FieldError("lang", "must be a language tag such as ar or ar-LB"))
    if (zone := query.get("timezone")) is not None:
        if _zone(zone) is None:
            errors.append(FieldError("timezone", "must be an IANA time zone such as Asia/Beirut"))
        else:
            values["timezone"] = zone
    if (label := query.get("label")) is not None:
        if 1 <= len(label.strip()) <= LABEL_MAX and label.isprintable():
            values["label"] = label.strip()
        else:
            errors.append(FieldError("label", f"must be 1 to {LABEL_MAX} printable characters"))
    if errors:
        raise Problem(
            400,
            "; ".join(f"{e.field} {e.message}" for e in errors) + ". docs/widget.md lists them.",
            title="Invalid widget options",
            errors=errors,
        )
    return Options(**values)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# The box, rendered on the server: the same markup and classes as the widget's shadow root


@dataclass(frozen=True)
class Row:
    id: str
    text: str
    url: str | None
    priority: str
    created_at: str
    time: str
    corrected: bool


@dataclass(frozen=True)
class Box:
    mode: str
    theme: str
    lang: str
    dir: str
    label: str
    text: dict[str, str]
    rows: list[Row] = field(default_factory=list)


def make_box(options: Options, channel: Channel, items: list[dict[str, Any]]) -> Box:
    lang = options.lang or channel.lang
    text = TEXT["ar" if lang.lower().startswith("ar") else "en"]
    zone = _zone(options.timezone or channel.timezone) or ZoneInfo("UTC")
    rows = [
        Row(
            id=item["id"],
            text=item["text"],
            url=_safe_url(item.get("url")),
            priority=item.get("priority", "urgent"),
            created_at=item["created_at"],
            time=clock(item["created_at"], zone, text is TEXT["ar"], options),
            corrected=item.get("updated_at") != item["created_at"],
        )
        for item in items[: options.limit]
    ]
    return Box(
        mode=options.mode,
        theme=options.theme,
        lang=lang,
        dir=options.dir or channel.dir,
        label=options.label or text["label"],
        text=text,
        rows=rows,
    )


def clock(moment: str, zone: ZoneInfo, arabic: bool, options: Options) -> str:
    """`HH:MM` as the widget's Intl.DateTimeFormat writes it (without its U+200F marks)."""
    t = parse_rfc3339(moment).astimezone(zone)
    if options.hour_cycle == "h12":
        noon = t.hour >= 12
        suffix = ("م" if noon else "ص") if arabic else ("PM" if noon else "AM")
        text = f"{t.hour % 12 or 12:02d}:{t.minute:02d} {suffix}"
    else:
        text = f"{t.hour:02d}:{t.minute:02d}"
    return text.translate(ARABIC_INDIC) if options.digits == "arab" else text


def _safe_url(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def _newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: parse_event_id(item["id"]), reverse=True)


async def _channels(request: Request, ids: list[str]) -> list[Channel] | None:
    svc = services(request)
    found = []
    for channel_id in ids:
        channel = svc.fanout.channels.get(channel_id) or await svc.store.get_channel(channel_id)
        if channel is None:
            return None
        found.append(channel)
    return found


async def _snapshots(request: Request, ids: list[str]) -> tuple[str | None, list[dict[str, Any]]]:
    """Each channel's snapshot, and the stream position the page's widget resumes from."""
    svc = services(request)
    if svc.fanout.ready.is_set():
        # From memory, with no await in between: one moment for every channel, so the newest
        # of their last ids is a position from which the stream misses nothing of any of them.
        snapshots = [svc.fanout.snapshot(channel_id) for channel_id in ids]
        newest = max((s["last_event_id"] for s in snapshots), key=parse_event_id)
        return (None if newest == "0-0" else newest), snapshots
    # Read from Redis one by one: no common moment, so let the widget take the stream's
    # `reset` events instead of resuming.
    snapshots = []
    for channel_id in ids:
        s = await svc.store.snapshot(channel_id)
        snapshots.append({"channel": s.channel, "last_event_id": s.last_event_id, "items": s.items})
    return None, snapshots


def _state(
    position: str | None, channels: list[Channel], snapshots: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the widget starts from on our pages (read by its `seed`)."""
    return {
        "position": position,
        "channels": {c.id: c.to_json() for c in channels},
        "snapshots": snapshots,
    }


def _missing(request: Request, channel_id: str) -> Response:
    return templates.TemplateResponse(
        request,
        "embed_missing.html",
        {"channel": channel_id, "css": {"embed": style_url("embed")}},
        status_code=404,
        headers=EMBED_HEADERS,
    )


# Pages


async def embed_page(request: Request) -> Response:
    raw = request.path_params["channels"]
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids or not all(CHANNEL_ID.match(i) for i in ids):
        return _missing(request, raw)
    if len(ids) > MAX_CHANNELS:
        raise Problem(400, f"An embed shows at most {MAX_CHANNELS} channels.")
    options = parse_options(request.query_params)
    channels = await _channels(request, ids)
    if channels is None:
        missing = [i for i in ids if services(request).fanout.channels.get(i) is None]
        return _missing(request, missing[0] if missing else raw)
    position, snapshots = await _snapshots(request, ids)
    items = _newest_first([item for s in snapshots for item in s["items"]])
    return templates.TemplateResponse(
        request,
        "embed.html",
        {
            "box": make_box(options, channels[0], items),
            "channel_ids": ",".join(ids),
            "title": " · ".join(c.title for c in channels),
            "attributes": options.attributes(),
            "state": _state(position, channels, snapshots),
            "widget_src": widget_url(),
            "css": {"widget": style_url("breaking-ticker"), "embed": style_url("embed")},
        },
        headers=EMBED_HEADERS,
    )


async def demo_page(request: Request) -> Response:
    svc = services(request)
    channels = {c.id: c for c in await svc.store.channels()}
    wanted = request.query_params.get("channel")
    if wanted is not None and wanted not in channels:
        return _missing(request, wanted)
    channel = channels.get(wanted or "main") or next(iter(channels.values()), None)
    options = parse_options(request.query_params)
    base = public_base(request)
    context: dict[str, Any] = {
        "base": base,
        "channel": channel,
        "options": options,
        "links": _demo_links(request.query_params, channel),
        "channel_links": _channel_links(request.query_params, list(channels.values())),
        "widget_src": widget_url(),
        "css": {"widget": style_url("breaking-ticker"), "demo": style_url("demo")},
    }
    if channel is not None:
        position, snapshots = await _snapshots(request, [channel.id])
        items = snapshots[0]["items"]
        bar = replace(options, mode="marquee", limit=10)
        side = replace(options, mode="list", limit=8)
        context |= {
            "bar": make_box(bar, channel, items),
            "side": make_box(side, channel, items),
            "bar_attributes": bar.attributes(),
            "side_attributes": side.attributes(),
            "state": _state(position, [channel], snapshots),
            "empty": not items,
        }
    return templates.TemplateResponse(request, "demo.html", context, headers=DEMO_HEADERS)


def _demo_links(query: Mapping[str, str], channel: Channel | None) -> dict[str, str]:
    """Links that switch one option of the demo and keep the others."""
    current = {k: v for k, v in query.items() if k in ("channel", "theme", "digits", "hour-cycle")}

    def switch(name: str, value: str, default: str) -> str:
        params = {**current, name: value}
        if value == default:
            params.pop(name)
        return "/demo" + (f"?{urlencode(params)}" if params else "")

    return {
        "light": switch("theme", "light", "light"),
        "dark": switch("theme", "dark", "light"),
        "latn": switch("digits", "latn", "latn"),
        "arab": switch("digits", "arab", "latn"),
        "h23": switch("hour-cycle", "h23", "h23"),
        "h12": switch("hour-cycle", "h12", "h23"),
        "embed": f"/embed/{channel.id}" if channel else "",
    }


def _channel_links(query: Mapping[str, str], channels: list[Channel]) -> list[tuple[Channel, str]]:
    keep = {k: v for k, v in query.items() if k in ("theme", "digits", "hour-cycle")}
    return [(c, "/demo?" + urlencode({**keep, "channel": c.id})) for c in channels[:DEMO_CHANNELS]]


routes: list[BaseRoute] = [
    Route("/widget.js", widget_js, methods=["GET", "HEAD"]),
    Route("/widget-{version}.js", widget_versioned, methods=["GET", "HEAD"]),
    Route("/widget/{name}.css", stylesheet, methods=["GET", "HEAD"]),
    Route("/embed/{channels}", embed_page, methods=["GET", "HEAD"]),
    Route("/demo", demo_page, methods=["GET", "HEAD"]),
    Route("/favicon.ico", favicon_ico, methods=["GET", "HEAD"]),
]
