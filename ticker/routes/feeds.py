"""Feeds per channel for monitors: Atom, RSS 2.0 and JSON Feed 1.1 (API.md, "Embedding").

Atom and RSS are written by feedgen; JSON Feed is plain JSON. Every feed lists the
channel's live items, newest first, with ids that never change (a UUID derived
from channel and item id), and answers conditional GETs (ETag, Last-Modified).
"""

from __future__ import annotations

import hashlib
import html
import uuid
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from feedgen.feed import FeedGenerator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ticker.model import Channel, normalise_text, parse_rfc3339
from ticker.problems import Problem
from ticker.routes.common import PUBLIC_HEADERS, known_channel, public_base
from ticker.services import services
from ticker.store import dumps

FEED_ITEMS = 100
MEDIA_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
GENERATOR = "ticker"


def item_uuid(channel: str, item_id: str) -> str:
    """A stable, globally unique id for an item in every feed format."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"ticker:{channel}:{item_id}").urn


async def feed(request: Request) -> Response:
    name, _, kind = request.path_params["name"].rpartition(".")
    if kind not in MEDIA_TYPES:
        raise Problem(404, "Feeds end in .atom, .rss or .json, e.g. /feeds/main.atom.")
    channel = await known_channel(request, name)
    snapshot = await services(request).store.snapshot(channel.id, FEED_ITEMS)
    items = snapshot.items
    base = public_base(request)
    updated = max((parse_rfc3339(i["updated_at"]) for i in items), default=None)
    if kind == "json":
        body = _json_feed(channel, items, base).encode()
    else:
        body = _xml_feed(channel, items, base, kind, updated)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**PUBLIC_HEADERS, "ETag": etag, "Cache-Control": "public, max-age=30"}
    if updated is not None:
        headers["Last-Modified"] = format_datetime(updated, usegmt=True)
    if _not_modified(request, etag, updated):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPES[kind], headers=headers)


def _not_modified(request: Request, etag: str, updated: datetime | None) -> bool:
    # RFC 9110: If-None-Match wins over If-Modified-Since when both are sent.
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return etag in tags or "*" in tags
    since = request.headers.get("if-modified-since")
    if since is None or updated is None:
        return False
    try:
        return updated <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


def _xml_feed(
    channel: Channel, items: list[dict[str, Any]], base: str, kind: str, updated: datetime | None
) -> bytes:
    page = f"{base}/embed/{channel.id}"
    # Intake strips what XML cannot carry; this also covers items stored before it did,
    # and channel titles set with the CLI: one bad character must not turn a feed into 500.
    title = normalise_text(channel.title) or channel.id
    fg = FeedGenerator()
    fg.id(item_uuid(channel.id, "feed"))
    fg.title(title)
    fg.subtitle(f"{title}: live urgent items")  # RSS needs a description
    fg.link(href=page, rel="alternate")
    fg.link(href=f"{base}/feeds/{channel.id}.{kind}", rel="self")
    fg.language(channel.lang)
    fg.generator(GENERATOR)
    if updated is not None:
        fg.updated(updated)
        fg.lastBuildDate(updated)
    # feedgen prepends entries; add oldest first so the feed reads newest first.
    for item in reversed(items):
        # Atom says its titles are text; RSS readers treat them as HTML, so there the
        # text is HTML-escaped too, and "<b>" in an item shows as "<b>", never as markup.
        plain = normalise_text(item["text"])
        text = plain if kind == "atom" else html.escape(plain, quote=False)
        entry = fg.add_entry()
        entry.id(item_uuid(channel.id, item["id"]))
        entry.guid(item_uuid(channel.id, item["id"]), permalink=False)
        entry.title(text)
        entry.description(text)
        entry.link(href=item["url"] or page)
        entry.published(parse_rfc3339(item["created_at"]))
        entry.updated(parse_rfc3339(item["updated_at"]))
        if item["priority"] == "urgent":
            entry.category(term="urgent", label="عاجل" if channel.lang == "ar" else "urgent")
    if kind == "atom":
        return fg.atom_str(pretty=True)
    return fg.rss_str(pretty=True)


def _json_feed(channel: Channel, items: list[dict[str, Any]], base: str) -> str:
    page = f"{base}/embed/{channel.id}"
    return dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": channel.title,
            "home_page_url": page,
            "feed_url": f"{base}/feeds/{channel.id}.json",
            "language": channel.lang,
            "items": [
                {
                    "id": item_uuid(channel.id, item["id"]),
                    "url": item["url"] or page,
                    "title": item["text"],
                    "content_text": item["text"],
                    "date_published": item["created_at"],
                    "date_modified": item["updated_at"],
                    "tags": [item["priority"]],
                    "_ticker": {"id": item["id"], "expires_at": item["expires_at"]},
                }
                for item in items
            ],
        }
    )


routes = [Route("/feeds/{name}", feed, methods=["GET"])]
