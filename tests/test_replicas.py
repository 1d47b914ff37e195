"""Two app processes on one Redis: a post on one reaches the other's subscribers, and
each expiry happens once although both run the expiry job."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.client_model import ModelClient
from tests.support import RedisServer, TickerServer, cli, make_token
from tests.waiting import eventually
from ticker.store import Keys


@pytest.fixture
def two_servers(redis_server: RedisServer) -> Iterator[tuple[TickerServer, TickerServer]]:
    a = TickerServer(redis_server.url, TICKER_EXPIRE_INTERVAL="0.1").start()
    b = TickerServer(redis_server.url, TICKER_EXPIRE_INTERVAL="0.1").start()
    yield a, b
    a.stop()
    b.stop()


async def test_post_on_one_reaches_the_other(
    redis_server: RedisServer, two_servers: tuple[TickerServer, TickerServer]
) -> None:
    a, b = two_servers
    cli(redis_server.url, "channel", "add", "replicas")
    token = make_token(redis_server.url, "replicas")
    on_a, on_b = ModelClient(a.base, ["replicas"]), ModelClient(b.base, ["replicas"])
    on_a.connect()
    on_b.connect()
    # Subscribed once the first reset is in: from then on, nothing published is missed.
    await on_a.wait_for("0-0")
    await on_b.wait_for("0-0")
    ids = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as api:
        for n in range(30):
            r = await api.post(
                f"{a.base}/api/v1/channels/replicas/items",
                json={"text": f"من الخادم الأول {n}", "ttl_seconds": 60},
            )
            ids.append(r.json()["id"])
        await on_b.wait_for(ids[-1], timeout=2)
        # Resuming on the other process with an id from the first one is exact too.
        await on_a.disconnect()
        more = [
            (
                await api.post(
                    f"{b.base}/api/v1/channels/replicas/items",
                    json={"text": f"من الخادم الثاني {n}"},
                )
            ).json()["id"]
            for n in range(5)
        ]
        on_a.base = b.base
        on_a.connect()
        await on_a.wait_for(more[-1], timeout=2)

    # Make every item due now: both processes' expiry jobs race for them.
    async with redis_server_async(redis_server) as r:
        keys = Keys("ticker:")
        now = int(time.time() * 1000)
        await r.zadd(keys.expiry, {f"replicas/{i}": now for i in ids + more})
        members = [f"replicas/{i}" for i in ids + more]
        # An expiry takes the item off the schedule and appends its event in one script,
        # so once none of them is scheduled, every expire event (a duplicate too, had a
        # replica made one) is already in the log: no need to wait and see.

        async def none_scheduled() -> bool:
            return all(score is None for score in await r.zmscore(keys.expiry, members))

        await eventually(none_scheduled, "every item left the expiry schedule")
        await eventually(
            lambda: not on_a.items["replicas"] and not on_b.items["replicas"],
            "both subscribers saw every item expire",
        )
        entries = await r.xrange(keys.log)
    expires = [f for _, f in entries if f["type"] == "expire" and f["channel"] == "replicas"]
    assert sorted(f["item"] for f in expires) == sorted(ids + more)
    for client in (on_a, on_b):
        client.check()
        assert client.items["replicas"] == {}
        await client.disconnect()


def redis_server_async(server: RedisServer):  # type: ignore[no-untyped-def]
    import redis.asyncio as aioredis

    return aioredis.from_url(server.url, decode_responses=True)
