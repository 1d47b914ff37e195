"""Atom, RSS 2.0 and JSON Feed per channel, parsed with feedparser."""

from __future__ import annotations

import html
import json

import feedparser
import httpx
import pytest

from tests.support import TickerServer
from tests.waiting import wait_for


@pytest.fixture
def published(api: httpx.Client, channel: str) -> list[dict]:
    items = [
        api.post(
            f"/api/v1/channels/{channel}/items",
            json={"text": "مطار بيروت الدولي: تأخير رحلتين إلى باريس ولندن"},
        ).json(),
        api.post(
            f"/api/v1/channels/{channel}/items",
            json={
                "text": "مؤشر S&P 500 يرتفع 1.2% <b>لا وسوم</b>",
                "url": "https://news.example/sp500",
                "priority": "normal",
            },
        ).json(),
    ]
    return items[::-1]  # newest first


@pytest.mark.parametrize("kind", ["atom", "rss"])
def test_xml_feeds(server: TickerServer, channel: str, published: list[dict], kind: str) -> None:
    r = httpx.get(f"{server.base}/feeds/{channel}.{kind}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(f"application/{kind}+xml")
    assert r.headers["access-control-allow-origin"] == "*"
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == f"Test {channel}"
    assert parsed.feed.language == "ar"
    # feedparser takes a title with "<b>" in it for HTML: unescaped, it is the text.
    shown = [html.unescape(e.title) if kind == "rss" else e.title for e in parsed.entries]
    assert shown == [i["text"] for i in published]
    assert parsed.entries[0].link == "https://news.example/sp500"
    assert parsed.entries[1].link.endswith(f"/live/{channel}#item-{published[1]['id']}")
    ids = [e.id for e in parsed.entries]
    assert all(i.startswith("urn:uuid:") for i in ids)
    assert ids == [e.id for e in feedparser.parse(httpx.get(r.url).content).entries]  # stable
    assert parsed.entries[0].published_parsed is not None


def test_json_feed(server: TickerServer, channel: str, published: list[dict]) -> None:
    r = httpx.get(f"{server.base}/feeds/{channel}.json")
    assert r.headers["content-type"].startswith("application/feed+json")
    body = r.json()
    assert body["version"] == "https://jsonfeed.org/version/1.1"
    assert body["language"] == "ar"
    assert [i["content_text"] for i in body["items"]] == [i["text"] for i in published]
    assert body["items"][0]["date_published"] == published[0]["created_at"]
    assert [i["id"] for i in body["items"]] == [i["id"] for i in httpx.get(r.url).json()["items"]]
    assert json.loads(r.content)["items"][0]["_ticker"]["id"] == published[0]["id"]


@pytest.mark.parametrize("kind", ["atom", "rss", "json"])
def test_conditional_get(
    server: TickerServer, channel: str, published: list[dict], kind: str
) -> None:
    url = f"{server.base}/feeds/{channel}.{kind}"
    first = httpx.get(url)
    etag = first.headers["etag"]
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304

    def not_modified_since() -> bool:
        # Within the second of the last change, Last-Modified is the second before it
        # (tests/test_feeds_validate.py): 304 once that second is over.
        modified = httpx.get(url).headers["last-modified"]
        return httpx.get(url, headers={"If-Modified-Since": modified}).status_code == 304

    wait_for(not_modified_since, "the feed's validators follow the change", timeout=5)
    assert httpx.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_feed_changes_when_items_change(
    api: httpx.Client, server: TickerServer, channel: str, published: list[dict]
) -> None:
    url = f"{server.base}/feeds/{channel}.atom"
    etag = httpx.get(url).headers["etag"]
    api.delete(f"/api/v1/channels/{channel}/items/{published[0]['id']}")
    r = httpx.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 200
    assert [e.title for e in feedparser.parse(r.content).entries] == [published[1]["text"]]


def test_unknown_feed(server: TickerServer, channel: str) -> None:
    assert httpx.get(f"{server.base}/feeds/nope.atom").status_code == 404
    assert httpx.get(f"{server.base}/feeds/{channel}.xml").status_code == 404
