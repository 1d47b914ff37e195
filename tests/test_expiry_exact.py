"""Exact expiry: an item never expires before `ttl` after it was
published, to the millisecond, and the expiry job removes it within one interval."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from tests.support import RedisServer, TickerServer, open_stream
from ticker import publishing
from ticker.config import Settings
from ticker.model import Channel, ItemInput, parse_rfc3339
from ticker.store import Keys, Store, open_store

TTL = 60


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[Store]:
    settings = Settings.from_env(
        {"REDIS_URL": redis_server.url, "TICKER_KEY_PREFIX": f"exp-{uuid.uuid4().hex[:8]}:"}
    )
    async with aioredis.Redis.from_url(redis_server.url, decode_responses=True) as r:
        store = open_store(r, settings)
        await store.save_channel(Channel("x", "X"))
        yield store


async def expiry_ms(store: Store, item_id: str) -> int:
    score = await store.redis.zscore(store.keys.expiry, f"x/{item_id}")
    assert score is not None
    return int(score)


async def test_publish_and_correct_keep_the_millisecond(store: Store) -> None:
    channel = Channel("x", "X")
    # Published as late in a second as we can arrange: truncating would cost ~1 s.
    while time.time() % 1 < 0.8:
        await asyncio.sleep(0.01)
    before = time.time() * 1000
    outcome = await publishing.publish(
        store, channel, ItemInput.parse({"text": "خبر", "ttl_seconds": TTL}, partial=False), "t"
    )
    after = time.time() * 1000
    item = outcome.item
    due = await expiry_ms(store, item.id)
    assert before + TTL * 1000 <= due <= after + TTL * 1000 + 1
    # The times shown keep whole seconds, and the item is not gone before created_at + ttl.
    created = parse_rfc3339(item.created_at).timestamp() * 1000
    assert parse_rfc3339(item.expires_at).timestamp() * 1000 == created + TTL * 1000
    assert due >= created + TTL * 1000
    assert await store.expire_due(due - 1) == []
    # A correction without ttl keeps the exact time; one with ttl counts from now.
    await publishing.correct(
        store, channel, item.id, ItemInput.parse({"text": "تصحيح"}, partial=True), "t"
    )
    assert await expiry_ms(store, item.id) == due
    before = time.time() * 1000
    await publishing.correct(
        store, channel, item.id, ItemInput.parse({"ttl_seconds": TTL * 2}, partial=True), "t"
    )
    after = time.time() * 1000
    due = await expiry_ms(store, item.id)
    assert before + 2 * TTL * 1000 <= due <= after + 2 * TTL * 1000 + 1
    assert await store.expire_due(due - 1) == []
    assert len(await store.expire_due(due)) == 1


@pytest.fixture(scope="module")
def expiring(redis_server: RedisServer) -> Iterator[TickerServer]:
    ticker = TickerServer(redis_server.url, TICKER_EXPIRE_INTERVAL="1.0").start()
    yield ticker
    ticker.stop()


async def test_lateness_stays_under_the_interval(
    redis_server: RedisServer, expiring: TickerServer, token: str, channel: str
) -> None:
    """Items made due a moment from now: each expire event lands at or after its time,
    within the 1 s interval (plus a little room for a loaded machine)."""
    keys = Keys("ticker:")
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=expiring.base, headers=headers) as api,
        aioredis.Redis.from_url(redis_server.url, decode_responses=True) as r,
        open_stream(expiring.base, {"channels": channel}) as s,
    ):
        await s.next_of("reset")
        ids = []
        for n in range(5):
            r_ = await api.post(f"/api/v1/channels/{channel}/items", json={"text": f"ينتهي {n}"})
            ids.append(r_.json()["id"])
        now = int(time.time() * 1000)
        due = {i: now + 700 + 350 * n for n, i in enumerate(ids)}
        await r.zadd(keys.expiry, {f"{channel}/{i}": ms for i, ms in due.items()})
        late: dict[str, int] = {}
        while len(late) < len(ids):
            event = await s.next_of("expire", timeout=10)
            assert event.id is not None
            late[event.data["id"]] = int(event.id.split("-")[0]) - due[event.data["id"]]
    print("lateness (ms):", sorted(late.values()))
    assert min(late.values()) >= 0
    assert max(late.values()) < 1000 + 300
