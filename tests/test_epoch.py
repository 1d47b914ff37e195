"""The stream epoch and bounded replays, against a real redis-server: each test has a
key prefix of its own, and drives a Fanout directly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import cast

import pytest
import redis.asyncio as aioredis

from tests.support import RedisServer, bare_item
from ticker.broker import RedisBroker
from ticker.config import Settings
from ticker.fanout import BLOCK_MS, Fanout, Subscriber
from ticker.frames import Frame
from ticker.model import Channel, parse_event_id
from ticker.store import Store, open_store


class Recorder(Subscriber):
    """Keeps (event, id, data) of every frame it is given."""

    def __init__(self, channels: frozenset[str] | None) -> None:
        super().__init__(channels)
        self.raw = bytearray()

    def write(self, frame: Frame) -> None:
        self.raw += frame.raw

    def write_many(self, frames: list[Frame]) -> None:
        for frame in frames:
            self.raw += frame.raw

    def events(self) -> list[tuple[str, str]]:
        out = []
        for block in bytes(self.raw).decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in fields:
                out.append((fields["event"], fields["id"]))
        return out


def settings_for(redis_server: RedisServer, **env: str) -> Settings:
    return Settings.from_env(
        {
            "REDIS_URL": redis_server.url,
            "TICKER_KEY_PREFIX": f"epoch-{uuid.uuid4().hex[:8]}:",
            **env,
        }
    )


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[Store]:
    settings = settings_for(redis_server)
    async with aioredis.Redis.from_url(redis_server.url, decode_responses=True) as r:
        store = open_store(r, settings)
        await store.save_channel(Channel("a", "A"))
        yield store


async def publish(store: Store, channel: str, text: str) -> str:
    outcome = await store.publish(channel, bare_item(channel, text), 10**13, "t")
    return outcome.item.id


async def test_load_begins_an_epoch_once(store: Store) -> None:
    first = await store.load(10)
    assert first.epoch and first.since == first.head
    entry = await store.redis.xrange(store.keys.log, first.since, first.since)
    fields = cast(list[tuple[str, dict[str, str]]], entry)[0][1]
    assert fields["type"] == "epoch" and first.epoch in fields["data"]
    await publish(store, "a", "خبر")
    again = await store.load(10)
    assert (again.epoch, again.since) == (first.epoch, first.since)


async def test_a_log_behind_what_was_read_begins_a_new_epoch(store: Store) -> None:
    state = await store.load(10)
    kept = await publish(store, "a", "باق")
    lost = [await publish(store, "a", f"ضائع {n}") for n in range(3)]
    assert (await store.check_epoch(state.epoch, lost[-1])).verdict == "same"
    # Redis comes back without the last three entries, and a write lands at once: the
    # log's newest id is ahead of ours again (what `head() < self.head` missed).
    await store.redis.xdel(store.keys.log, *lost)
    await publish(store, "a", "فور العودة")
    check = await store.check_epoch(state.epoch, lost[-1])
    assert check.verdict == "behind" and check.epoch != state.epoch
    assert parse_event_id(check.since) > parse_event_id(lost[-1])
    # Every other process finds the new epoch, and nobody begins a third one.
    assert (await store.check_epoch(state.epoch, kept)).verdict == "changed"
    assert (await store.check_epoch(check.epoch, kept)).verdict == "same"
    assert (await store.load(10)).epoch == check.epoch


async def test_a_redis_that_came_back_empty_has_no_epoch(store: Store) -> None:
    state = await store.load(10)
    read = await publish(store, "a", "قبل")
    await store.redis.delete(store.keys.log, store.keys.epoch, store.keys.channels)
    await store.save_channel(Channel("a", "A"))  # re-added at once
    check = await store.check_epoch(state.epoch, read)
    assert check.verdict == "missing"
    assert parse_event_id(check.since) > parse_event_id(read)


async def test_trimmed_is_not_lost(store: Store) -> None:
    state = await store.load(10)
    read = await publish(store, "a", "قديم")
    await store.trim(int(parse_event_id(read)[0]) + 5)  # the whole log, `read` included
    assert await store.redis.xlen(store.keys.log) == 0
    assert (await store.check_epoch(state.epoch, read)).verdict == "same"


@pytest.fixture
async def running(redis_server: RedisServer) -> AsyncIterator[tuple[Fanout, Store]]:
    settings = settings_for(redis_server, TICKER_RING_SIZE="5", TICKER_REPLAY_MAX="10")
    api = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    store = open_store(api, settings)
    await store.save_channel(Channel("a", "A"))
    await store.save_channel(Channel("b", "B"))
    reader = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    fanout = Fanout(RedisBroker(open_store(reader, settings), reader), settings)
    fanout.start()
    await fanout.wait_ready(10)
    yield fanout, store
    await fanout.stop()  # closes `reader` too
    await api.aclose()


async def until(check: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_an_id_older_than_the_epoch_gets_a_reset(running: tuple[Fanout, Store]) -> None:
    fanout, store = running
    old = await publish(store, "a", "قبل الحقبة")
    await until(lambda: fanout.head_id == old)
    inside = Recorder(frozenset({"a"}))
    assert fanout.subscribe(inside, parse_event_id(old)) is None
    assert inside.events() == []  # a plain resume: nothing new since
    # Another process had read an entry that the log no longer has: it begins a new
    # epoch, whose entry in the log makes this process reload and reset everyone.
    before = fanout.epoch
    check = await store.check_epoch(before, f"{parse_event_id(old)[0] + 1}-0")
    assert check.verdict == "behind"
    await until(lambda: fanout.epoch == check.epoch != before)
    assert fanout.since == parse_event_id(check.since) > parse_event_id(old)
    await until(lambda: ("reset", fanout.head_id) in inside.events())
    # The old id is below the new epoch's first id: unknown, so a reset.
    returning = Recorder(frozenset({"a"}))
    assert fanout.subscribe(returning, parse_event_id(old)) is None
    assert returning.events() == [("reset", fanout.head_id)]


async def test_a_long_replay_is_capped_then_reset(running: tuple[Fanout, Store]) -> None:
    """Ring of 5 events, replays of at most 10 entries: a resume from 30 events back
    replays the quiet channel exactly and resets the busy one instead of reading on."""
    fanout, store = running
    start = await publish(store, "b", "بداية")
    quiet = [await publish(store, "b", f"هادئ {n}") for n in range(2)]
    busy = [await publish(store, "a", f"مزدحم {n}") for n in range(30)]
    await until(lambda: fanout.head_id == busy[-1])
    both = Recorder(frozenset({"a", "b"}))
    resuming = fanout.subscribe(both, parse_event_id(start))
    assert resuming is not None
    reads: list[int] = []
    original = fanout.broker.history

    async def counted(after: str, upto: str, limit: int):  # type: ignore[no-untyped-def]
        found = await original(after, upto, limit)
        reads.append(len(found.entries))
        return found

    fanout.broker.history = counted  # type: ignore[method-assign]
    await resuming
    assert reads == [10]  # one bounded read, not the 32 entries after `start`
    events = both.events()
    assert events[0] == ("reset", busy[-1])  # channel a: its events go past the cap
    assert events[1:] == [("publish", i) for i in quiet]  # channel b: complete
    # A quiet channel's resume needs no read at all.
    only_b = Recorder(frozenset({"b"}))
    resuming = fanout.subscribe(only_b, parse_event_id(quiet[-1]))
    assert resuming is not None
    await resuming
    assert reads == [10] and only_b.events() == []


async def test_a_loss_without_a_disconnect_is_found_when_quiet(
    running: tuple[Fanout, Store],
) -> None:
    """A Redis emptied under a connected reader (FLUSHALL, a failover behind a proxy):
    the next quiet read timeout checks the epoch, and everyone gets a reset."""
    fanout, store = running
    item = await publish(store, "a", "سيُمحى")
    await until(lambda: fanout.head_id == item)
    sub = Recorder(frozenset({"a"}))
    fanout.subscribe(sub, None)
    before = fanout.epoch
    await store.redis.delete(*(await store.redis.keys(f"{store.keys.prefix}*")))
    await until(lambda: fanout.epoch != before, seconds=BLOCK_MS / 1000 + 5)
    resets = [i for e, i in sub.events() if e == "reset"]
    assert len(resets) == 2 and fanout.items.get("a", {}) == {}
