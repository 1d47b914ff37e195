"""Both brokers answer alike: the same checks on `RedisBroker` (a real Redis) and on
`MemoryBroker`, so that the fan-out's unit tests (tests/test_hub.py) drive it with a log
that behaves as the real one does.

Each broker comes with a `Log`: how a test writes to it and makes it lose data, in
that broker's own terms (the store's scripts and raw Redis commands, or the memory
broker's methods).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Protocol

import pytest
import redis.asyncio as aioredis

from tests.support import RedisServer, bare_item, free_port
from ticker.broker import Broker, BrokerError, RedisBroker
from ticker.broker.memory import MemoryBroker
from ticker.config import Settings
from ticker.model import Channel, parse_event_id
from ticker.store import Store, dumps, open_store


class Log(Protocol):
    broker: Broker

    async def publish(self, channel: str, text: str) -> str: ...

    async def lose(self, ids: list[str]) -> None:
        """These newest entries are gone (a failover to a replica that missed them)."""

    async def lose_everything(self) -> None:
        """Redis came back empty."""

    async def trim_all(self) -> None:
        """Trim the whole log, as retention does."""


class RedisLog:
    def __init__(self, store: Store, reader: aioredis.Redis) -> None:
        self.store = store
        self.broker = RedisBroker(store, reader)

    async def publish(self, channel: str, text: str) -> str:
        outcome = await self.store.publish(channel, bare_item(channel, text), 10**13, "t")
        return outcome.item.id

    async def lose(self, ids: list[str]) -> None:
        await self.store.redis.xdel(self.store.keys.log, *ids)

    async def lose_everything(self) -> None:
        k = self.store.keys
        await self.store.redis.delete(k.log, k.epoch, k.channels, k.trimmed)

    async def trim_all(self) -> None:
        head = await self.store.head()
        await self.store.trim(parse_event_id(head)[0] + 1)


class MemoryLog:
    def __init__(self) -> None:
        self.broker = self.memory = MemoryBroker()

    async def publish(self, channel: str, text: str) -> str:
        return self.memory.add("publish", channel, dumps({"channel": channel, "text": text})).id

    async def lose(self, ids: list[str]) -> None:
        kept = [e.id for e in self.memory.entries if e.id not in ids]
        self.memory.lose_after(kept[-1])

    async def lose_everything(self) -> None:
        self.memory.lose_everything()

    async def trim_all(self) -> None:
        self.memory.trim(self.memory.head)


@pytest.fixture(params=["redis", "memory"])
async def log(request: pytest.FixtureRequest, redis_server: RedisServer) -> AsyncIterator[Log]:
    if request.param == "memory":
        memory = MemoryLog()
        memory.memory.save_channel("a", "A")
        yield memory
        return
    settings = Settings.from_env(
        {"REDIS_URL": redis_server.url, "TICKER_KEY_PREFIX": f"broker-{uuid.uuid4().hex[:8]}:"}
    )
    api = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    store = open_store(api, settings)
    await store.save_channel(Channel("a", "A"))
    redis_log = RedisLog(store, aioredis.Redis.from_url(redis_server.url, decode_responses=True))
    yield redis_log
    await redis_log.broker.close()


async def test_the_first_load_begins_an_epoch_and_later_ones_keep_it(log: Log) -> None:
    first = await log.broker.load(10)
    assert first.epoch and first.since == first.head
    assert set(first.channels) == {"a"} and first.items == {"a": {}}
    opening = first.recent[-1]
    assert opening.id == first.since and opening.type == "epoch"
    assert json.loads(opening.data) == {"epoch": first.epoch}
    item_id = await log.publish("a", "خبر")
    again = await log.broker.load(10)
    assert (again.epoch, again.since, again.head) == (first.epoch, first.since, item_id)
    assert json.loads(again.items["a"][item_id])["text"] == "خبر"
    assert again.last == {"a": item_id} and again.recent[-1].id == item_id
    assert [e.type for e in (await log.broker.load(1)).recent] == ["publish"]


async def test_a_read_brings_the_entries_after_an_id_in_order(log: Log) -> None:
    state = await log.broker.load(10)
    ids = [await log.publish("a", f"خبر {n}") for n in range(3)]
    entries = await log.broker.read(state.head)
    assert [(e.id, e.type, e.channel, e.item) for e in entries] == [
        (i, "publish", "a", i) for i in ids
    ]
    assert json.loads(entries[0].data)["text"] == "خبر 0"
    assert [e.id for e in await log.broker.read(ids[0])] == ids[1:]


async def test_a_history_is_bounded_and_says_whether_it_is_complete(log: Log) -> None:
    await log.broker.load(10)
    ids = [await log.publish("a", f"خبر {n}") for n in range(5)]
    capped = await log.broker.history(ids[0], ids[-1], 3)
    assert [e.id for e in capped.entries] == ids[1:4] and not capped.complete
    whole = await log.broker.history(ids[0], ids[-1], 10)
    assert [e.id for e in whole.entries] == ids[1:] and whole.complete
    assert whole.trimmed == "0-0"
    upto = await log.broker.history(ids[0], ids[2], 10)
    assert [e.id for e in upto.entries] == ids[1:3] and upto.complete


async def test_the_epoch_check_tells_same_changed_and_behind(log: Log) -> None:
    state = await log.broker.load(10)
    kept = await log.publish("a", "باق")
    lost = [await log.publish("a", f"ضائع {n}") for n in range(2)]
    assert (await log.broker.check_epoch(state.epoch, lost[-1])).verdict == "same"
    assert (await log.broker.check_epoch("another", kept)).verdict == "changed"
    await log.lose(lost)
    behind = await log.broker.check_epoch(state.epoch, lost[-1])
    assert behind.verdict == "behind" and behind.epoch != state.epoch
    assert parse_event_id(behind.since) > parse_event_id(lost[-1])
    # Every other process finds the new epoch; nobody begins a third one.
    assert (await log.broker.check_epoch(state.epoch, kept)).verdict == "changed"
    assert (await log.broker.check_epoch(behind.epoch, behind.since)).verdict == "same"
    assert (await log.broker.load(10)).epoch == behind.epoch


async def test_a_log_that_came_back_empty_is_missing_its_epoch(log: Log) -> None:
    state = await log.broker.load(10)
    read = await log.publish("a", "قبل")
    await log.lose_everything()
    check = await log.broker.check_epoch(state.epoch, read)
    assert check.verdict == "missing" and check.epoch != state.epoch
    assert parse_event_id(check.since) > parse_event_id(read)


async def test_an_entry_trimmed_in_its_time_is_not_lost(log: Log) -> None:
    state = await log.broker.load(10)
    read = await log.publish("a", "قديم")
    await log.trim_all()
    assert (await log.broker.check_epoch(state.epoch, read)).verdict == "same"
    after = await log.broker.history("0-0", read, 10)
    assert after.entries == [] and parse_event_id(after.trimmed) >= parse_event_id(read)


async def test_a_broker_that_cannot_reach_its_log_raises_broker_error() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings.from_env({"REDIS_URL": dead})
    api = aioredis.Redis.from_url(dead, decode_responses=True)
    broker = RedisBroker(open_store(api, settings), aioredis.Redis.from_url(dead))
    with pytest.raises(BrokerError, match="ConnectionError"):
        await broker.load(10)
    with pytest.raises(BrokerError, match="ConnectionError"):
        await broker.read("0-0")
    await broker.close()
    memory = MemoryBroker()
    memory.down = True
    with pytest.raises(BrokerError, match="ConnectionError"):
        await memory.history("0-0", "0-0", 1)
