"""Feeds per channel for monitors: Atom, RSS 2.0 and JSON Feed 1.1 (docs/api.md, "Feeds").

Atom and RSS are written by feedgen; JSON Feed is plain JSON. Every feed lists the
channel's live items, newest first, with ids that never change (a UUID derived
from channel and item id), names the newsroom (TICKER_NEWSROOM_NAME) as author,
and links to the channel's live page.

Conditional GETs: the validators come from the log position of the
channel's last change (its `last` event: a publish, correction, retraction or
expiry), never from the items' `updated_at` to the second, which missed a
publish within the same second and a retraction of the newest item. The ETag
is that position plus a digest of the body (which also moves on a channel's
rename); the feed's `updated` is the time of that change, so an empty channel's
feed is the same bytes on every request (the epoch, if it never had an item).
"""

from __future__ import annotations

import hashlib
import html
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime

from feedgen.feed import FeedGenerator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ticker.http import PUBLIC_HEADERS, not_modified
from ticker.model import Channel, Item, normalise_text, parse_event_id, parse_rfc3339
from ticker.problems import Problem
from ticker.routes.common import known_channel, public_base
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


def live_page(base: str, channel: str) -> str:
    """The channel's HTML page for readers (`/live/{channel}`): the feeds' home link."""
    return f"{base}/live/{channel}"


async def feed(request: Request) -> Response:
    name, _, kind = request.path_params["name"].rpartition(".")
    if kind not in MEDIA_TYPES:
        raise Problem(404, "Feeds end in .atom, .rss or .json, e.g. /feeds/main.atom.")
    channel = await known_channel(request, name)
    svc = services(request)
    snapshot, now_ms = await svc.store.snapshot_at(channel.id, FEED_ITEMS)
    position = snapshot.last_event_id  # "0-0": the channel never had an item
    changed_ms = parse_event_id(position)[0]
    updated = datetime.fromtimestamp(changed_ms / 1000, UTC)
    base = public_base(request)
    author = svc.settings.newsroom_name
    if kind == "json":
        body = _json_feed(channel, snapshot.live, base, author).encode()
    else:
        body = _xml_feed(channel, snapshot.live, base, kind, updated, author)
    etag = f'"{position}.{hashlib.sha256(body).hexdigest()[:16]}"'
    modified_s = last_modified_seconds(changed_ms, now_ms)
    headers = {
        **PUBLIC_HEADERS,
        "ETag": etag,
        "Last-Modified": format_datetime(datetime.fromtimestamp(modified_s, UTC), usegmt=True),
        "Cache-Control": "public, max-age=30",
    }
    # Modified after the client's date unless the change's second, rounded up, is not later.
    if not_modified(request.headers, etag, datetime.fromtimestamp(-(-changed_ms // 1000), UTC)):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPES[kind], headers=headers)


def last_modified_seconds(changed_ms: int, now_ms: int) -> int:
    """The Last-Modified to send, in whole seconds (all HTTP dates have).

    The end of the second of the change (rounded up), so that a client sending it
    back gets 304 until a later change, except while that second is still running
    (by Redis's clock): another change may yet be logged in it, so we send the
    second before, which compares older than the change and gives 200 at worst.
    """
    return min(-(-changed_ms // 1000), now_ms // 1000)


def _xml_feed(
    channel: Channel,
    items: list[Item],
    base: str,
    kind: str,
    updated: datetime,
    author: str,
) -> bytes:
    page = live_page(base, channel.id)
    # Intake strips what XML cannot carry; this also covers items stored before it did,
    # and channel titles set with the CLI: one bad character must not turn a feed into 500.
    title = normalise_text(channel.title) or channel.id
    fg = FeedGenerator()
    fg.id(item_uuid(channel.id, "feed"))
    fg.title(title)
    fg.subtitle(f"{title}: live urgent items")  # RSS needs a description
    fg.author(name=normalise_text(author) or GENERATOR)  # Atom: entries inherit it
    # Self first: feedgen makes the last link set the RSS channel's <link>, the page.
    fg.link(href=f"{base}/feeds/{channel.id}.{kind}", rel="self")
    fg.link(href=page, rel="alternate")
    fg.language(channel.lang)
    fg.generator(GENERATOR)
    # Set always: feedgen would otherwise write the current time, a new body every request.
    fg.updated(updated)
    fg.lastBuildDate(updated)
    # feedgen prepends entries; add oldest first so the feed reads newest first.
    for item in reversed(items):
        plain = normalise_text(item.text)
        entry = fg.add_entry()
        entry.id(item_uuid(channel.id, item.id))
        entry.guid(item_uuid(channel.id, item.id), permalink=False)
        # Titles are plain text in both formats (lxml escapes them once for XML). RSS
        # descriptions are HTML by convention, so there the text is HTML-escaped first:
        # "<b>" in an item shows as "<b>", never as markup.
        entry.title(plain)
        entry.description(plain if kind == "atom" else html.escape(plain, quote=False))
        entry.link(href=item.url or f"{page}#item-{item.id}")
        entry.published(parse_rfc3339(item.created_at))
        entry.updated(parse_rfc3339(item.updated_at))
        if item.priority == "urgent":
            entry.category(term="urgent", label="عاجل" if channel.lang == "ar" else "urgent")
    # feedgen is untyped; both give the document as bytes.
    feed: bytes = fg.atom_str(pretty=True) if kind == "atom" else fg.rss_str(pretty=True)
    return feed


def _json_feed(channel: Channel, items: list[Item], base: str, author: str) -> str:
    page = live_page(base, channel.id)
    return dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": channel.title,
            "home_page_url": page,
            "feed_url": f"{base}/feeds/{channel.id}.json",
            "language": channel.lang,
            "authors": [{"name": author}],
            "items": [
                {
                    "id": item_uuid(channel.id, item.id),
                    "url": item.url or f"{page}#item-{item.id}",
                    "title": item.text,
                    "content_text": item.text,
                    "date_published": item.created_at,
                    "date_modified": item.updated_at,
                    "tags": [item.priority],
                    "_ticker": {"id": item.id, "expires_at": item.expires_at},
                }
                for item in items
            ],
        }
    )


routes = [Route("/feeds/{name}", feed, methods=["GET"])]
