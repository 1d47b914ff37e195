"""A resume from an id older than the ring read the whole rest of
the log with one XRANGE (1.65 MB for a 3,000-entry log, per connection). Now one
resume reads at most TICKER_REPLAY_MAX entries, and a channel that would need more
gets a `reset`. Against a real `ticker serve` and its own redis-server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from tests.support import RedisServer, TickerServer, bare_item, cli, open_stream
from ticker.model import Item
from ticker.store import Store

REPLAY_MAX = 100
TEXT = "عاجل: " + "تفاصيل الخبر " * 30  # ~400 bytes of UTF-8


@pytest.fixture
def capped() -> Iterator[tuple[TickerServer, RedisServer]]:
    redis_server = RedisServer().start()
    cli(redis_server.url, "channel", "add", "busy")
    cli(redis_server.url, "channel", "add", "quiet")
    ticker = TickerServer(
        redis_server.url, TICKER_RING_SIZE="10", TICKER_REPLAY_MAX=str(REPLAY_MAX)
    ).start()
    yield ticker, redis_server
    ticker.stop()
    redis_server.kill()
    shutil.rmtree(redis_server.dir, ignore_errors=True)


def new_item(channel: str, text: str = TEXT) -> Item:
    return bare_item(channel, text)


async def redis_bytes_out(r: aioredis.Redis) -> int:
    return int((await r.info("stats"))["total_net_output_bytes"])


async def test_an_old_resume_reads_a_bounded_range(
    capped: tuple[TickerServer, RedisServer],
) -> None:
    ticker, redis_server = capped
    async with aioredis.Redis.from_url(redis_server.url, decode_responses=True) as r:
        store = Store(r, "ticker:")
        quiet = []
        for channel in ("quiet",) * 3 + ("busy",) * 3000:
            item = (await store.publish(channel, new_item(channel), 10**13, "t")).item.id
            if channel == "quiet":
                quiet.append(item)
        last = (await store.snapshot("busy", 1)).last_event_id
        async with open_stream(ticker.base, {"channels": "busy"}) as s:
            while s.last_id != last:  # the server has read everything
                await s.next()
        before = await redis_bytes_out(r)
        async with open_stream(
            ticker.base, {"channels": "busy,quiet"}, headers={"Last-Event-ID": quiet[0]}
        ) as s:
            got = await s.collect(quiet=1.0)
        read = await redis_bytes_out(r) - before
    print(f"Redis sent {read} bytes for the resume (cap {REPLAY_MAX} entries)")
    # The quiet channel's two later items were within the bounded read: replayed. The
    # busy one needs ~3,000 entries: a reset instead, at the head.
    assert [(e.event, e.data["channel"]) for e in got] == [
        ("reset", "busy"),
        ("publish", "quiet"),
        ("publish", "quiet"),
    ]
    assert [e.id for e in got[1:]] == quiet[1:]
    assert got[0].id == last and len(got[0].data["items"]) == 100
    # Redis sent ~REPLAY_MAX entries (~0.5 KB each), not the 3,000 after the id.
    assert read < REPLAY_MAX * 1200
