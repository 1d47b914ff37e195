"""`GET /live/{channel}`: a channel's live items as a page for search engines and readers
without JavaScript, with `LiveBlogPosting` structured data (schema.org, as Google reads it
for live coverage). With JavaScript the page stays live through the widget: a hidden
`<breaking-ticker>` holds the connection and web/live/live.js redraws the page's list and
its structured data from the items the widget shows. docs/widget.md describes it.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ticker.assets import WEB_DIR, templates
from ticker.embed.assets import serve, widget_url
from ticker.embed.options import Options, find_zone
from ticker.embed.render import clock, make_box
from ticker.embed.state import find_channels, seed, snapshots
from ticker.http import Asset, not_modified
from ticker.model import CHANNEL_ID, Channel, newest_first, parse_event_id, rfc3339
from ticker.problems import Problem
from ticker.routes.common import public_base
from ticker.routes.embed import PAGE_POLICY

LIVE_DIR = WEB_DIR / "live"
HEADLINE_MAX = 110  # Google shows at most 110 characters of a headline
LIVE_HEADERS = {
    "Content-Security-Policy": f"{PAGE_POLICY}; frame-ancestors 'self'",
    # Always revalidated: a retracted item must leave caches too; unchanged costs a 304.
    "Cache-Control": "no-cache",
}
TEXT = {
    "ar": {"live": "مباشر", "source": "المصدر", "updated": "آخر تحديث"},
    "en": {"live": "Live", "source": "Source", "updated": "Last updated"},
}


@functools.cache
def assets() -> dict[str, Asset]:
    return {
        "js": Asset.script((LIVE_DIR / "live.js").read_text("utf-8")),
        "css": Asset.stylesheet((LIVE_DIR / "live.css").read_text("utf-8")),
    }


async def live_asset(request: Request) -> Response:
    kind = request.path_params["kind"]
    asset = assets().get(kind)
    if asset is None:
        raise Problem(404, f"There is no file {request.url.path}.")
    return serve(asset, request, immutable=request.query_params.get("v") == asset.version)


def headline(text: str) -> str:
    """The item as a headline: whole, or cut at a word within HEADLINE_MAX, with an ellipsis."""
    if len(text) <= HEADLINE_MAX:
        return text
    cut = text[: HEADLINE_MAX - 1]
    if " " in cut[HEADLINE_MAX // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ،,.:;") + "…"


def _event_time(event_id: str) -> str | None:
    """When the event with this id was appended (ids are `<milliseconds>-<sequence>`)."""
    ms = parse_event_id(event_id)[0]
    return rfc3339(datetime.fromtimestamp(ms / 1000, UTC)) if ms else None


def live_blog(
    channel: Channel, items: list[dict[str, Any]], url: str, last_event_id: str
) -> dict[str, Any]:
    """The page's `LiveBlogPosting`: one `BlogPosting` per live item, newest first.

    It changes when the channel's last event changes: the page's ETag stays valid until then.
    """
    changed = _event_time(last_event_id) or rfc3339(datetime.now(UTC))
    started = min((item["created_at"] for item in items), default=changed)
    return {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "@id": url,
        "url": url,
        "mainEntityOfPage": url,
        "headline": headline(channel.title),
        "inLanguage": channel.lang,
        "coverageStartTime": started,
        "datePublished": started,
        "dateModified": changed,
        "liveBlogUpdate": [update(item, url) for item in items],
    }


def update(item: dict[str, Any], page_url: str) -> dict[str, Any]:
    """One item as a `BlogPosting` (web/live/live.js builds the same from a live item)."""
    posting: dict[str, Any] = {
        "@type": "BlogPosting",
        "@id": f"{page_url}#item-{item['id']}",
        "url": f"{page_url}#item-{item['id']}",
        "headline": headline(item["text"]),
        "articleBody": item["text"],
        "datePublished": item["created_at"],
    }
    if item.get("updated_at") and item["updated_at"] != item["created_at"]:
        posting["dateModified"] = item["updated_at"]
    return posting


def _not_found(channel_id: str) -> Response:
    body = templates.get_template("live_missing.html").render(
        channel=channel_id, css=assets()["css"].version
    )
    return Response(body, status_code=404, media_type="text/html", headers=LIVE_HEADERS)


async def live_page(request: Request) -> Response:
    channel_id = request.path_params["channel"]
    if not CHANNEL_ID.match(channel_id):
        return _not_found(channel_id)
    channels = await find_channels(request, [channel_id])
    if channels is None:
        return _not_found(channel_id)
    [channel] = channels
    position, taken = await snapshots(request, [channel_id])
    items = newest_first(taken[0]["items"])
    url = f"{public_base(request)}/live/{channel_id}"
    box = make_box(Options(limit=100), channel, items)
    arabic = channel.lang.lower().startswith("ar")
    zone = find_zone(channel.timezone) or ZoneInfo("UTC")
    modified = _event_time(taken[0]["last_event_id"])
    body = templates.get_template("live.html").render(
        channel=channel,
        url=url,
        box=box,
        text=TEXT["ar" if arabic else "en"],
        modified=modified,
        modified_clock=modified and clock(modified, zone, arabic, Options()),
        structured=live_blog(channel, items, url, taken[0]["last_event_id"]),
        state=seed(position, [channel], taken),
        widget_src=widget_url(),
        versions={name: asset.version for name, asset in assets().items()},
    )
    encoded = body.encode()
    etag = '"' + hashlib.sha256(encoded).hexdigest()[:32] + '"'
    headers = {**LIVE_HEADERS, "ETag": etag}
    if not_modified(request.headers, etag):
        return Response(status_code=304, headers=headers)
    return Response(encoded, media_type="text/html; charset=utf-8", headers=headers)


# Starlette's Route answers HEAD wherever it answers GET.
routes: list[BaseRoute] = [
    Route("/live/{channel}", live_page),
    Route("/live/assets/live.{kind}", live_asset),
]
