"""Redis killed (SIGKILL) and restarted from its append-only file while subscribers are
connected and a publisher retries: 503 while it is down, and afterwards every
acknowledged item reaches every subscriber exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.client_model import ModelClient
from tests.support import RedisServer, TickerServer, cli, make_token
from tests.waiting import eventually


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer(appendonly=True).start()
    yield server
    server.kill()


async def test_redis_killed_and_restarted(own_redis: RedisServer) -> None:
    cli(own_redis.url, "channel", "add", "main")
    token = make_token(own_redis.url, "restart")
    ticker = TickerServer(own_redis.url).start()
    try:
        await _scenario(own_redis, ticker, token)
    finally:
        ticker.stop()


async def _scenario(redis_server: RedisServer, ticker: TickerServer, token: str) -> None:
    subscribers = [ModelClient(ticker.base, ["main"]) for _ in range(3)]
    for sub in subscribers:
        sub.connect()
    for sub in subscribers:  # subscribed once the first reset is in
        await sub.wait_for("0-0")
    acknowledged: list[str] = []
    unavailable: list[float] = []  # how long each 503 took to come back
    stop = asyncio.Event()

    async def publisher() -> None:
        async with httpx.AsyncClient(
            base_url=ticker.base, timeout=5, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            n = 0
            while not stop.is_set():
                key = str(uuid.uuid4())
                body = {"text": f"خبر رقم {n} أثناء إعادة التشغيل"}
                while True:  # retry the same item with the same key until acknowledged
                    started = time.monotonic()
                    r = await api.post(
                        "/api/v1/channels/main/items", json=body, headers={"Idempotency-Key": key}
                    )
                    if r.status_code in (200, 201):
                        acknowledged.append(r.json()["id"])
                        break
                    assert r.status_code == 503, r.text
                    assert r.headers["retry-after"]
                    assert r.headers["content-type"] == "application/problem+json"
                    unavailable.append(time.monotonic() - started)
                    await asyncio.sleep(0.1)  # a publisher's pause before retrying
                n += 1
                await asyncio.sleep(0.02)  # the scenario: a steady flow of items

    task = asyncio.create_task(publisher())
    await eventually(lambda: len(acknowledged) >= 10, "ten items published before the kill")
    redis_server.kill()
    # While Redis is down: the process stays ready (its streams go on from memory, so a
    # balancer must not drain it), its Redis check and metric say Redis is away,
    # snapshots are 503, streams stay open.
    async with httpx.AsyncClient(base_url=ticker.base, timeout=5) as client:

        async def reader_reconnecting() -> bool:
            return (await client.get("/readyz")).json()["reader"] == "reconnecting"

        await eventually(reader_reconnecting, "the stream reader noticed Redis is gone")
        await eventually(lambda: unavailable, "the publisher got a 503")
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["stream"] == "ready"
        assert ready.json()["reader"] == "reconnecting"
        assert ready.json()["redis"].startswith("unreachable")
        redis_health = await client.get("/healthz/redis")
        assert redis_health.status_code == 503 and redis_health.headers["retry-after"]
        assert "ticker_redis_up 0.0" in (await client.get("/metrics")).text
        started = time.monotonic()
        assert (await client.get("/api/v1/channels/main/items")).status_code == 503
        assert time.monotonic() - started < 1
    for sub in subscribers:
        assert not sub.ended.is_set(), "a stream closed while Redis was down"
    redis_server.start()  # same port, same folder: it reloads the append-only file
    async with httpx.AsyncClient(base_url=ticker.base, timeout=5) as client:

        async def reader_following() -> bool:
            return (await client.get("/readyz")).json()["reader"] == "following"

        await eventually(reader_following, "the stream reader follows the log again")
        assert (await client.get("/healthz/redis")).json() == {"status": "ok", "redis": "ok"}
    so_far = len(acknowledged)
    await eventually(
        lambda: len(acknowledged) >= so_far + 10, "ten more published after the restart"
    )
    stop.set()
    await asyncio.wait_for(task, 20)

    assert unavailable, "the publisher never saw Redis down"
    assert max(unavailable) < 1.0, f"a 503 took {max(unavailable):.2f} s"
    assert len(acknowledged) == len(set(acknowledged)) > 20
    for sub in subscribers:
        await sub.wait_for(acknowledged[-1], timeout=10)
        sub.check()
        # Each stream stayed connected through the outage and saw every item once.
        assert sub.connects == 1
        assert set(acknowledged) <= sub.seen
        assert sub.events == len(acknowledged)
        assert [i["id"] for i in sub.newest_first("main")] == acknowledged[::-1]
    for sub in subscribers:
        await sub.disconnect()
