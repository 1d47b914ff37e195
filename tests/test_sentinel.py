"""Redis failover under Sentinel with WAIT on: while publishing and streaming, the master
is killed and a replica promoted; no acknowledged item is lost, and subscribers resume
."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.client_model import ModelClient
from tests.support import (
    REDIS_SERVER,
    RedisServer,
    TickerServer,
    cli,
    free_port,
    make_token,
)
from tests.waiting import eventually, wait_for

MASTER_NAME = "tickermaster"


class Sentinel:
    def __init__(self, master_port: int) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ticker-sentinel-"))
        conf = self.dir / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 800\n"
            f"sentinel failover-timeout {MASTER_NAME} 4000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self.proc = subprocess.Popen(
            [REDIS_SERVER, str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, decode_responses=True)
        wait_for(client.ping, "the sentinel answers PING")
        self.client = client

    def master_port(self) -> int:
        return int(self.client.sentinel_get_master_addr_by_name(MASTER_NAME)[1])

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def cluster() -> Iterator[tuple[RedisServer, list[RedisServer], Sentinel]]:
    # Two replicas: after the failover one is left to confirm writes (WAIT 1).
    master = RedisServer().start()
    replicas = [
        RedisServer(extra=["--replicaof", "127.0.0.1", str(master.port)]).start() for _ in range(2)
    ]
    for replica in replicas:
        wait_for(
            lambda r=replica: r.client().info("replication")["master_link_status"] == "up",
            "the replica linked to its master",
        )
    sentinel = Sentinel(master.port)
    # The Sentinel has to see the replicas before it can promote one.
    wait_for(
        lambda: len(sentinel.client.sentinel_slaves(MASTER_NAME)) == 2,
        "the sentinel knows both replicas",
        timeout=15,
    )
    yield master, replicas, sentinel
    sentinel.stop()
    for replica in replicas:
        replica.kill()
    master.kill()


async def test_failover_loses_no_acknowledged_item(
    cluster: tuple[RedisServer, list[RedisServer], Sentinel],
) -> None:
    master, replicas, sentinel = cluster
    cli(master.url, "channel", "add", "failover")
    token = make_token(master.url, "failover")
    ticker = TickerServer(
        master.url,
        REDIS_SENTINELS=f"127.0.0.1:{sentinel.port}",
        REDIS_SENTINEL_MASTER=MASTER_NAME,
        TICKER_PUBLISH_REPLICAS="1",
    ).start()
    try:
        await _scenario(ticker, token, master, replicas, sentinel)
    finally:
        ticker.stop()
        print(ticker.output()[-3000:])


async def _scenario(
    ticker: TickerServer,
    token: str,
    master: RedisServer,
    replicas: list[RedisServer],
    sentinel: Sentinel,
) -> None:
    subscribers = [ModelClient(ticker.base, ["failover"], allow_rewind=True) for _ in range(2)]
    for sub in subscribers:
        sub.connect()
    await eventually(
        lambda: all(sub.last_id is not None for sub in subscribers),
        "both subscribers read their first reset",
    )
    acknowledged: list[str] = []
    refused = 0
    stop = asyncio.Event()

    async def publisher() -> None:
        nonlocal refused
        async with httpx.AsyncClient(
            base_url=ticker.base, timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            n = 0
            while not stop.is_set():
                key, body = str(uuid.uuid4()), {"text": f"خبر {n} أثناء تبديل الخادم"}
                while True:
                    r = await api.post(
                        "/api/v1/channels/failover/items",
                        json=body,
                        headers={"Idempotency-Key": key},
                    )
                    if r.status_code in (200, 201):
                        acknowledged.append(r.json()["id"])
                        break
                    assert r.status_code == 503, r.text
                    refused += 1
                    await asyncio.sleep(0.1)  # a publisher's pause before retrying
                n += 1
                await asyncio.sleep(0.02)  # the scenario: a steady flow of items

    task = asyncio.create_task(publisher())
    await eventually(lambda: len(acknowledged) >= 10, "ten items published before the kill")
    before = len(acknowledged)
    master.kill()
    # Sentinel notices (800 ms) and promotes the replica.
    ports = {r.port for r in replicas}
    await asyncio.to_thread(
        wait_for, lambda: sentinel.master_port() in ports, "a replica promoted", 20
    )
    await asyncio.to_thread(
        wait_for,
        lambda: len(acknowledged) > before + 10,
        "10 publishes acknowledged after the failover",
        20,
    )
    stop.set()
    await asyncio.wait_for(task, 20)

    assert refused > 0, "the publisher never saw the failover"
    assert len(acknowledged) == len(set(acknowledged))
    async with httpx.AsyncClient() as client:
        snapshot = (
            await client.get(f"{ticker.base}/api/v1/channels/failover/items?limit=100")
        ).json()
    live = {i["id"] for i in snapshot["items"]}
    assert set(acknowledged) <= live, "an acknowledged item was lost in the failover"
    for sub in subscribers:
        await sub.wait_for(snapshot["last_event_id"], timeout=10)
        sub.check()
        assert set(acknowledged) <= set(sub.items["failover"]), "a subscriber missed an item"
        await sub.disconnect()
