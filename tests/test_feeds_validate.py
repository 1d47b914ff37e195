"""Feeds that validate and validators that tell the truth.

A server of this module's own (its own Redis, so that forcing an expiry touches no other
test's items), with a newsroom name set: Atom checked against RFC 4287's schema, RSS
against RSS 2.0's required elements, both parsed by feedparser; conditional GETs after a
publish in the same second, a retraction of the newest item and an expiry.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import feedparser
import httpx
import pytest
from lxml import etree

from tests.feed_validation import ATOM, atom_errors, rss_errors, schematron_rule_count
from tests.support import RedisServer, TickerServer, cli, make_token
from tests.waiting import wait_for
from ticker.config import Settings
from ticker.store import api_client, open_store

NEWSROOM = "غرفة الأخبار & Co"
TRICKY = "مؤشر S&P 500 يرتفع 1.2% <b>لا وسوم</b> «87–79»"


@pytest.fixture(scope="module")
def redis_own() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def feeds_server(redis_own: RedisServer) -> Iterator[TickerServer]:
    server = TickerServer(
        redis_own.url, TICKER_NEWSROOM_NAME=NEWSROOM, TICKER_EXPIRE_INTERVAL="3600"
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(redis_own: RedisServer, feeds_server: TickerServer) -> Iterator[httpx.Client]:
    token = make_token(redis_own.url, "feeds")
    with httpx.Client(
        base_url=feeds_server.base, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as c:
        yield c


_count = iter(range(1000))


@pytest.fixture
def chan(redis_own: RedisServer, client: httpx.Client) -> str:
    name = f"f{next(_count)}"
    cli(redis_own.url, "channel", "add", name, "--title", f"Feed {name}")
    wait_for(lambda: client.get(f"/feeds/{name}.atom").status_code == 200, "the new channel's feed")
    return name


def _base(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def publish(client: httpx.Client, channel: str, text: str, **extra: object) -> dict:
    r = client.post(f"/api/v1/channels/{channel}/items", json={"text": text, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_atom_validates_against_rfc_4287(client: httpx.Client, chan: str) -> None:
    publish(client, chan, "مطار بيروت الدولي: تأخير رحلتين إلى باريس ولندن")
    publish(client, chan, TRICKY, url="https://news.example/sp500", priority="normal")
    body = client.get(f"/feeds/{chan}.atom").content
    assert schematron_rule_count() == 3  # the schema's rules were found, so they ran
    assert atom_errors(body) == []
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.author_detail.name == NEWSROOM
    assert [e.title for e in parsed.entries] == [
        TRICKY,
        "مطار بيروت الدولي: تأخير رحلتين إلى باريس ولندن",
    ]
    assert parsed.feed.link == f"{_base(client)}/live/{chan}"
    assert parsed.entries[1].link.startswith(f"{_base(client)}/live/{chan}#item-")


def test_the_atom_checker_catches_what_the_w3c_validator_did() -> None:
    """Without its author, the old feed: the validator must say so, or it proves nothing."""
    no_author = (
        f'<feed xmlns="{ATOM}"><id>urn:x</id><title>t</title>'
        "<updated>2026-11-29T21:31:00Z</updated>"
        "<entry><id>urn:y</id><title>e</title><updated>2026-11-29T21:31:00Z</updated>"
        '<link href="https://x.example/"/></entry></feed>'
    ).encode()
    errors = atom_errors(no_author)
    assert any("must have an atom:author" in e for e in errors), errors
    assert atom_errors(no_author.replace(b"<entry>", b"<entry><oops/>"))  # RELAX NG too


def test_rss_escaped_once_and_linking_the_live_page(client: httpx.Client, chan: str) -> None:
    plain = "مؤشر S&P 500 يرتفع 1.2% «87–79» AT&T"
    first = publish(client, chan, plain)
    publish(client, chan, TRICKY)
    r = client.get(f"/feeds/{chan}.rss")
    assert rss_errors(r.content) == []
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.entries[1].title == plain  # no `&amp;` left over
    channel = etree.fromstring(r.content).find("channel")
    # Escaped once: the XML text is the item's text exactly (feedparser guesses that a
    # title with "<b>" in it is HTML, so the tagged one is checked at the XML level).
    assert [t.text for t in channel.iterfind("item/title")] == [TRICKY, plain]
    assert b"&amp;amp;" not in r.content.split(b"<description>")[0]
    assert channel.findtext("link") == f"{_base(client)}/live/{chan}"
    assert channel.findtext("item[2]/link") == f"{_base(client)}/live/{chan}#item-{first['id']}"


def test_an_empty_channel_feed_is_the_same_bytes_every_time(
    client: httpx.Client, chan: str
) -> None:
    for kind in ("atom", "rss", "json"):
        first = client.get(f"/feeds/{chan}.{kind}")
        time.sleep(1.1)  # past a second boundary: a feed stamped with "now" would change
        second = client.get(f"/feeds/{chan}.{kind}")
        assert second.content == first.content
        assert second.headers["etag"] == first.headers["etag"]
        assert second.headers["last-modified"] == "Thu, 01 Jan 1970 00:00:00 GMT"
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert (
            client.get(f"/feeds/{chan}.{kind}", headers={"If-None-Match": etag}).status_code == 304
        )
        since = client.get(f"/feeds/{chan}.{kind}", headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        if kind == "atom":
            assert atom_errors(first.content) == []


def _validators(client: httpx.Client, url: str) -> tuple[str, str]:
    r = client.get(url)
    assert r.status_code == 200
    return r.headers["etag"], r.headers["last-modified"]


def _fresh(client: httpx.Client, url: str, etag: str, modified: str) -> None:
    """Both kinds of conditional GET see the change: no stale 304."""
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 200


@pytest.mark.parametrize("kind", ["atom", "rss", "json"])
def test_a_publish_in_the_same_second_is_no_304(client: httpx.Client, chan: str, kind: str) -> None:
    url = f"/feeds/{chan}.{kind}"
    for _ in range(10):  # until both publishes fall in one second (almost always at once)
        first = publish(client, chan, "الخبر الأول")
        etag, modified = _validators(client, url)
        second = publish(client, chan, "الخبر الثاني")
        if first["id"].split("-")[0][:-3] == second["id"].split("-")[0][:-3]:
            break
    else:
        pytest.fail("no two publishes fell in the same second")
    _fresh(client, url, etag, modified)
    new_etag, _ = _validators(client, url)
    assert new_etag != etag and second["id"] in new_etag


@pytest.mark.parametrize("kind", ["atom", "rss", "json"])
def test_retracting_the_newest_item_is_no_304(client: httpx.Client, chan: str, kind: str) -> None:
    url = f"/feeds/{chan}.{kind}"
    publish(client, chan, "الخبر الباقي")
    newest = publish(client, chan, "الخبر المسحوب")
    time.sleep(1.05)  # so that the feed's Last-Modified is settled (not the running second)
    etag, modified = _validators(client, url)
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.delete(f"/api/v1/channels/{chan}/items/{newest['id']}").status_code == 204
    _fresh(client, url, etag, modified)
    assert "الخبر المسحوب" not in client.get(url).text


def test_an_expiry_is_no_304(redis_own: RedisServer, client: httpx.Client, chan: str) -> None:
    url = f"/feeds/{chan}.atom"
    publish(client, chan, "خبر ينتهي")
    time.sleep(1.05)
    etag, modified = _validators(client, url)

    async def expire_everything() -> list[str]:
        settings = Settings(redis_url=redis_own.url)
        redis = api_client(settings)
        try:
            return await open_store(redis, settings).expire_due(int(time.time() * 1000) + 10**9)
        finally:
            await redis.aclose()

    assert asyncio.run(expire_everything())
    _fresh(client, url, etag, modified)
    assert feedparser.parse(client.get(url).content).entries == []


def test_settled_validators_give_304_and_say_when(client: httpx.Client, chan: str) -> None:
    item = publish(client, chan, "خبر ثابت")
    url = f"/feeds/{chan}.rss"

    def settled() -> bool:
        modified = client.get(url).headers["last-modified"]
        return client.get(url, headers={"If-Modified-Since": modified}).status_code == 304

    wait_for(settled, "the feeds settled", timeout=5)
    modified = parsedate_to_datetime(client.get(url).headers["last-modified"]).timestamp()
    published_s = int(item["id"].split("-")[0]) / 1000
    assert published_s <= modified < published_s + 1  # the end of the change's second


def test_the_feeds_links_open_the_live_page_at_the_item(client: httpx.Client, chan: str) -> None:
    item = publish(client, chan, "خبر على الصفحة الحية")
    for kind in ("atom", "rss", "json"):
        body = client.get(f"/feeds/{chan}.{kind}").content
        if kind == "json":
            link = json.loads(body)["items"][0]["url"]
        else:
            link = feedparser.parse(body).entries[0].link
        page, _, anchor = link.partition("#")
        assert anchor == f"item-{item['id']}"
        r = httpx.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert f'id="{anchor}"' in r.text
