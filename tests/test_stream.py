"""The event stream (docs/api.md): reset, live events, resume, filters, headers, pings."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from tests.support import RedisServer, Stream, TickerServer, cli, make_token, open_stream
from tests.waiting import eventually
from ticker.store import Keys, Store


@pytest.fixture(scope="module", params=["fast-path", "asgi"])
def server(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[TickerServer]:
    """Every stream test runs against both ways of serving a stream: the direct-write
    fast path (the default) and the plain ASGI response."""
    fast = "true" if request.param == "fast-path" else "false"
    ticker = TickerServer(
        redis_server.url, TICKER_EXPIRE_INTERVAL="0.5", TICKER_STREAM_FAST_PATH=fast
    ).start()
    yield ticker
    ticker.stop()


async def test_the_expected_path_serves_the_stream(server: TickerServer, channel: str) -> None:
    async with open_stream(server.base, {"channels": channel}) as s:
        await s.next_of("reset")
        async with httpx.AsyncClient() as client:
            ready = (await client.get(f"{server.base}/readyz")).json()
    fast = server.env["TICKER_STREAM_FAST_PATH"] == "true"
    assert ready["subscribers"] == 1
    assert ready["direct_subscribers"] == (1 if fast else 0)


async def publish(base: str, token: str, channel: str, text: str, **extra: object) -> dict:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
        r = await client.post(
            f"{base}/api/v1/channels/{channel}/items", json={"text": text, **extra}
        )
        assert r.status_code == 201, r.text
        return r.json()


async def test_connect_starts_with_reset(server: TickerServer, token: str, channel: str) -> None:
    item = await publish(server.base, token, channel, "خبر قبل الاتصال")
    async with open_stream(server.base, {"channels": channel}) as s:
        assert s.status == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        assert s.headers["cache-control"] == "no-cache"
        assert s.headers["x-accel-buffering"] == "no"
        assert s.headers["access-control-allow-origin"] == "*"
        reset = await s.next()
        assert reset.event == "reset"
        assert reset.data == {"channel": channel, "last_event_id": item["id"], "items": [item]}
        assert reset.id is not None
        assert s.retry is not None and 2000 <= s.retry <= 4000


async def test_live_events_within_a_second(
    server: TickerServer, redis_server: RedisServer, token: str, channel: str
) -> None:
    async with open_stream(server.base, {"channels": channel}) as s:
        await s.next_of("reset")
        started = time.monotonic()
        item = await publish(server.base, token, channel, "عاجل: خبر مباشر", url="https://e.com/1")
        event = await s.next(timeout=1)
        assert (event.event, event.id, event.data) == ("publish", item["id"], item)
        assert time.monotonic() - started < 1

        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
            url = f"{server.base}/api/v1/channels/{channel}/items/{item['id']}"
            fixed = (await client.patch(url, json={"text": "عاجل: خبر مصحح"})).json()
            update = await s.next(timeout=1)
            assert (update.event, update.data) == ("update", fixed)
            assert update.id != item["id"]

            other = await publish(server.base, token, channel, "خبر سيسحب")
            await s.next_of("publish", timeout=1)
            await client.request("DELETE", url, json={"reason": "خطأ"})
            retract = await s.next(timeout=1)
            assert (retract.event, retract.data) == (
                "retract",
                {"id": item["id"], "channel": channel, "reason": "خطأ"},
            )

        # Expiry: make the item due now, as if its lifetime had passed.
        async with aioredis.from_url(redis_server.url) as r:
            keys = Keys("ticker:")
            due_at = time.time()
            await r.zadd(keys.expiry, {f"{channel}/{other['id']}": int(due_at * 1000)})
        expire = await s.next(timeout=2)
        assert (expire.event, expire.data) == ("expire", {"id": other["id"], "channel": channel})
        assert time.time() - due_at < 1.5  # the session server expires every 0.5 s
    async with httpx.AsyncClient() as client:
        snapshot = (await client.get(f"{server.base}/api/v1/channels/{channel}/items")).json()
    assert snapshot["items"] == [] and snapshot["last_event_id"] == expire.id


async def test_resume_with_header_and_query(server: TickerServer, token: str, channel: str) -> None:
    async with open_stream(server.base, {"channels": channel}) as s:
        await s.next_of("reset")
        first = await publish(server.base, token, channel, "واحد")
        await s.next_of("publish")
        last_id = s.last_id
    assert last_id == first["id"]
    missed = [await publish(server.base, token, channel, f"فاتني {n}") for n in range(3)]
    live: list[str] = []  # published after each replay; later resumes replay them too

    async def replay_then_live(s: Stream) -> None:
        """Nothing else of the replay is due: what comes next is what is published now."""
        live.append((await publish(server.base, token, channel, "مباشر"))["id"])
        assert [e.id for e in await s.until(live[-1])] == live

    async with open_stream(
        server.base, {"channels": channel}, headers={"Last-Event-ID": last_id}
    ) as s:
        got = await s.until(missed[-1]["id"])
        assert [(e.event, e.id) for e in got] == [("publish", m["id"]) for m in missed]
        await replay_then_live(s)
    async with open_stream(
        server.base, {"channels": channel, "last_event_id": missed[0]["id"]}
    ) as s:
        got = await s.until(missed[-1]["id"])
        assert [e.id for e in got] == [m["id"] for m in missed[1:]]
        await replay_then_live(s)
    # The header wins over the query parameter (a reconnecting EventSource sends both).
    async with open_stream(
        server.base,
        {"channels": channel, "last_event_id": "0-0"},
        headers={"Last-Event-ID": missed[1]["id"]},
    ) as s:
        assert [e.id for e in await s.until(missed[2]["id"])] == [missed[2]["id"]]
        await replay_then_live(s)


async def test_reset_id_is_a_resume_point(server: TickerServer, token: str, channel: str) -> None:
    async with open_stream(server.base, {"channels": channel}) as s:
        reset = await s.next_of("reset")
    item = await publish(server.base, token, channel, "بعد اللقطة")
    async with open_stream(
        server.base, {"channels": channel}, headers={"Last-Event-ID": reset.id}
    ) as s:
        assert [(e.event, e.id) for e in await s.until(item["id"])] == [("publish", item["id"])]
        live = await publish(server.base, token, channel, "مباشر")
        assert (await s.next()).id == live["id"]


@pytest.mark.parametrize("bad", ["abc", "123", "1-2-3", "-1-0", "1.5-0", "١٢-٣"])
def test_malformed_id_is_400(server: TickerServer, bad: str) -> None:
    r = httpx.get(f"{server.base}/api/v1/stream", params={"last_event_id": bad})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert "malformed" in r.json()["detail"]
    r = httpx.get(f"{server.base}/api/v1/stream", headers={"Last-Event-ID": bad.encode()})
    assert r.status_code == 400


async def test_channel_filter(
    server: TickerServer, redis_server: RedisServer, token: str, channel: str
) -> None:
    other = f"{channel}-o"
    cli(redis_server.url, "channel", "add", other)
    async with (
        open_stream(server.base, {"channels": channel}) as only,
        open_stream(server.base, {"channels": f"{channel},{other}"}) as both,
        open_stream(server.base) as everything,
    ):
        assert {(await both.next()).data["channel"] for _ in range(2)} == {channel, other}
        # One reset per channel of the whole (shared) server; ours among them.
        reset_of: set[str] = set()
        while not {channel, other} <= reset_of:
            event = await everything.next()
            assert event.event == "reset", event
            reset_of.add(event.data["channel"])
        await only.next_of("reset")
        a = await publish(server.base, token, other, "قناة أخرى")
        b = await publish(server.base, token, channel, "قناتي")
        assert [e.id for e in await only.until(b["id"])] == [b["id"]]
        assert [e.id for e in await both.until(b["id"])] == [a["id"], b["id"]]
        seen = [e.id for e in await everything.until(b["id"]) if e.event == "publish"]
        assert seen[-2:] == [a["id"], b["id"]]


def test_unknown_or_bad_channel(server: TickerServer) -> None:
    r = httpx.get(f"{server.base}/api/v1/stream", params={"channels": "nope-nope"})
    assert r.status_code == 404 and "nope-nope" in r.json()["detail"]
    r = httpx.get(f"{server.base}/api/v1/stream", params={"channels": "Bad_Name"})
    assert r.status_code == 400


def test_cors_preflight(server: TickerServer) -> None:
    r = httpx.options(
        f"{server.base}/api/v1/stream",
        headers={
            "Origin": "https://news.example",
            "Access-Control-Request-Headers": "last-event-id",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "Last-Event-ID" in r.headers["access-control-allow-headers"]


# Servers of their own: fast pings, a tiny ring.


@pytest.fixture
def small_ring(redis_server: RedisServer) -> Iterator[TickerServer]:
    ticker = TickerServer(redis_server.url, TICKER_RING_SIZE="3", TICKER_PING_SECONDS="0.5").start()
    yield ticker
    ticker.stop()


async def test_pings_keep_idle_streams_alive(small_ring: TickerServer, channel: str) -> None:
    async with open_stream(small_ring.base, {"channels": channel}) as s:
        # Pings every 0.5 s: two of them, not just the first, show they repeat.
        await eventually(lambda: s.comments >= 2, "two pings on an idle stream", timeout=5)
        assert b"\n: ping\n" in bytes(s.raw) or bytes(s.raw).startswith(b": ping")


async def test_resume_older_than_the_ring_reads_redis(
    small_ring: TickerServer, redis_server: RedisServer, token: str, channel: str
) -> None:
    items = [await publish(small_ring.base, token, channel, f"خبر {n}") for n in range(8)]
    async with open_stream(
        small_ring.base, {"channels": channel}, headers={"Last-Event-ID": items[0]["id"]}
    ) as s:
        got = await s.until(items[-1]["id"])
        assert [(e.event, e.id) for e in got] == [("publish", i["id"]) for i in items[1:]]
        live = await publish(small_ring.base, token, channel, "مباشر")
        assert (await s.next()).id == live["id"]


async def test_id_older_than_history_gives_reset(
    small_ring: TickerServer, redis_server: RedisServer, token: str, channel: str
) -> None:
    quiet = f"{channel}-q"
    cli(redis_server.url, "channel", "add", quiet)
    old = await publish(small_ring.base, token, channel, "قديم")
    items = [await publish(small_ring.base, token, channel, f"خبر {n}") for n in range(5)]
    async with aioredis.from_url(redis_server.url, decode_responses=True) as r:
        removed = await Store(r, "ticker:").trim(int(time.time() * 1000) + 1)
    assert removed >= 6
    async with open_stream(
        small_ring.base, {"channels": f"{channel},{quiet}"}, headers={"Last-Event-ID": old["id"]}
    ) as s:
        got = await s.take(1)
        # Only the channel that changed since the id gets a snapshot; the quiet one
        # had no event after it, so nothing of it was lost (the live event below comes
        # next: a second reset would have come first).
        assert [e.event for e in got] == ["reset"]
        assert got[0].data["channel"] == channel
        assert [i["id"] for i in got[0].data["items"]] == [i["id"] for i in [old, *items][::-1]]
        live = await publish(small_ring.base, token, channel, "بعد")
        assert (await s.next()).id == live["id"]


async def test_future_id_far_ahead_gives_reset(server: TickerServer, channel: str) -> None:
    far = f"{int(time.time() * 1000) + 3_600_000}-0"
    async with open_stream(server.base, {"channels": channel}, headers={"Last-Event-ID": far}) as s:
        assert (await s.next()).event == "reset"


def test_token_fixture_is_usable(redis_server: RedisServer) -> None:
    assert make_token(redis_server.url, "stream-extra").startswith("tk_")
