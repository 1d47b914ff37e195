"""Chaos scenarios: a real redis-server (own port, own folder) and a real `ticker serve`,
readers that rebuild the ticker from the stream, a publisher that retries until each
item is acknowledged, and ways to break Redis. `run_scenario` returns exact counts:
what was acknowledged, delivered, lost (acknowledged but no longer in Redis), shown
although Redis no longer has it (phantom), and the resets each reader got.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import redis.asyncio as aioredis

from tests.support import RedisServer, TickerServer, cli, make_token
from tests.waiting import eventually
from ticker.model import Channel, parse_event_id
from ticker.store import Keys, Store
from ticker.tail import SseParser

CHANNEL = "main"
KEYS = Keys("ticker:")
RESET_DEADLINE = 5.0  # seconds after Redis is back within which every reader must reset


class Reader:
    """A reader of one channel that behaves like an EventSource: it reconnects with its
    Last-Event-ID whenever the stream ends, and applies every event to its own list."""

    def __init__(self, base: str, name: str, last_id: str | None = None) -> None:
        self.base = base
        self.name = name
        self.last_id = last_id
        self.items: dict[str, dict[str, Any]] = {}
        self.received: set[str] = set()  # item ids that reached it, live or in a reset
        self.resets: list[float] = []  # monotonic time of each reset
        self.statuses: list[int] = []  # status of each connection
        self.errors: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"reader-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def resets_after(self, moment: float) -> list[float]:
        return [t - moment for t in self.resets if t >= moment]

    async def _run(self) -> None:
        while True:
            try:
                await self._connect()
            except (httpx.HTTPError, OSError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.2)  # as an EventSource would, before reconnecting

    async def _connect(self) -> None:
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        parser = SseParser()
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as client,
            client.stream(
                "GET",
                f"{self.base}/api/v1/stream",
                params={"channels": CHANNEL},
                headers=headers,
            ) as response,
        ):
            self.statuses.append(response.status_code)
            if response.status_code != 200:
                return
            async for chunk in response.aiter_raw():
                for event in parser.feed(chunk):
                    self._apply(event.event, event.id, json.loads(event.data))

    def _apply(self, event: str, event_id: str | None, data: dict[str, Any]) -> None:
        if event_id is None:
            raise AssertionError(f"{self.name}: {event} without an id")
        if event == "reset":
            self.resets.append(time.monotonic())
            self.items = {i["id"]: i for i in data["items"]}
            self.received.update(self.items)
        elif event in ("publish", "update"):
            self.items[data["id"]] = data
            self.received.add(data["id"])
        elif event in ("retract", "expire"):
            self.items.pop(data["id"], None)
        self.last_id = event_id


class Publisher:
    """Publishes item after item; each is retried with its Idempotency-Key until it is
    acknowledged (201/200). 503 (Redis away), 401 and 404 (a Redis that came back empty,
    before the test restored the token and the channel) are retried at once."""

    def __init__(self, base: str, token: str, pause: float = 0.03) -> None:
        self.base = base
        self.token = token
        self.pause = pause
        self.acknowledged: list[str] = []
        self.refused: dict[int, int] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="publisher")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 30)

    async def publish_one(self, api: httpx.AsyncClient, n: int) -> str:
        key = str(uuid.uuid4())
        while True:
            try:
                r = await api.post(
                    f"/api/v1/channels/{CHANNEL}/items",
                    json={"text": f"عاجل: خبر رقم {n} في اختبار الفوضى"},
                    headers={"Idempotency-Key": key},
                )
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
                continue
            if r.status_code in (200, 201):
                return str(r.json()["id"])
            if r.status_code not in (401, 404, 503):
                raise AssertionError(f"publish {n}: {r.status_code} {r.text}")
            self.refused[r.status_code] = self.refused.get(r.status_code, 0) + 1
            await asyncio.sleep(0.02)

    async def _run(self) -> None:
        async with httpx.AsyncClient(
            base_url=self.base, timeout=5, headers={"Authorization": f"Bearer {self.token}"}
        ) as api:
            n = 0
            while not self._stop.is_set():
                self.acknowledged.append(await self.publish_one(api, n))
                n += 1
                await asyncio.sleep(self.pause)


class AofWatch:
    """Samples the size of Redis's newest append-only file, to cut it back later to what
    had reached the disk a given time before (an OS crash under `appendfsync everysec`
    loses about the last second of writes)."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.samples: list[tuple[float, Path, int]] = []
        self._task: asyncio.Task[None] | None = None

    def newest(self) -> Path:
        files = sorted(
            (self.server.dir / "appendonlydir").glob("*.incr.aof"),
            key=lambda p: int(p.name.split(".")[-3]),
        )
        if not files:
            raise AssertionError("no append-only file: is appendonly on?")
        return files[-1]

    def start(self) -> None:
        async def sample() -> None:
            while True:
                path = self.newest()
                self.samples.append((time.monotonic(), path, path.stat().st_size))
                await asyncio.sleep(0.02)

        self._task = asyncio.create_task(sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def cut_back(self, seconds: float) -> int:
        """Truncate the newest file to its size `seconds` ago; returns the bytes removed."""
        moment = time.monotonic() - seconds
        path = self.newest()
        sizes = [size for at, p, size in self.samples if p == path and at <= moment]
        if not sizes:
            raise AssertionError(f"no sample of {path.name} from {seconds} s ago")
        before = path.stat().st_size
        with path.open("r+b") as f:
            f.truncate(sizes[-1])
        return before - sizes[-1]


@dataclass
class Counts:
    acknowledged: int = 0
    lost: int = 0  # acknowledged, but Redis no longer has them
    delivered: dict[str, int] = field(default_factory=dict)  # acknowledged ids each reader got
    missed: dict[str, int] = field(default_factory=dict)  # kept by Redis, never delivered
    phantom: dict[str, int] = field(default_factory=dict)  # shown but not in Redis
    resets: dict[str, int] = field(default_factory=dict)  # resets once Redis was back
    reset_delay: dict[str, float] = field(default_factory=dict)  # first of them, in seconds
    redis_items: int = 0

    def line(self, name: str) -> str:
        return (
            f"{name}: acknowledged {self.acknowledged}, lost {self.lost}, "
            f"delivered {self.delivered}, missed {self.missed}, phantom {self.phantom}, "
            f"resets {self.resets}, first reset after {self.reset_delay}"
        )


@dataclass
class Setup:
    redis: RedisServer
    ticker: TickerServer
    token: str
    token_records: dict[str, dict[str, str]]  # the token's Redis hashes, to restore them


def start_servers(appendfsync: str, **ticker_env: Any) -> Setup:
    redis_server = RedisServer(appendonly=True, extra=["--appendfsync", appendfsync]).start()
    cli(redis_server.url, "channel", "add", CHANNEL)
    token = make_token(redis_server.url, "chaos")
    client = redis_server.client()
    records = {
        key: {str(k): str(v) for k, v in client.hgetall(key).items()}
        for key in (KEYS.tokens, KEYS.token_names)
    }
    client.close()
    ticker = TickerServer(redis_server.url, TICKER_EXPIRE_INTERVAL="0.5", **ticker_env).start()
    return Setup(redis_server, ticker, token, records)


def stop_servers(setup: Setup) -> None:
    setup.ticker.stop()
    setup.redis.kill()
    shutil.rmtree(setup.redis.dir, ignore_errors=True)


async def restore_config(setup: Setup) -> None:
    """What an operator restores after Redis came back empty: the channel (a log write,
    through the same script as `ticker channel add`, landing at once) and the token."""
    async with aioredis.Redis.from_url(setup.redis.url, decode_responses=True) as r:
        await Store(r, KEYS.prefix).save_channel(Channel(CHANNEL, CHANNEL), actor="chaos")
        for key, record in setup.token_records.items():
            await r.hset(key, mapping=cast(Any, record))


async def truth(setup: Setup) -> tuple[set[str], set[str]]:
    """(live item ids, every id in the log) as Redis has them now."""
    async with aioredis.Redis.from_url(setup.redis.url, decode_responses=True) as r:
        items = {str(i) for i in await r.hkeys(KEYS.items(CHANNEL))}
        log = {str(eid) for eid, _ in await r.xrange(KEYS.log) or []}
    return items, log


async def shown_by_new_clients(setup: Setup) -> dict[str, set[str]]:
    """What a new REST call and a new stream's snapshot show."""
    async with httpx.AsyncClient(base_url=setup.ticker.base, timeout=5) as client:
        rest = await client.get(f"/api/v1/channels/{CHANNEL}/items", params={"limit": 100})
        assert rest.status_code == 200, rest.text
    newcomer = Reader(setup.ticker.base, "newcomer")
    newcomer.start()
    try:
        await eventually(lambda: bool(newcomer.resets), "a new stream's reset", 5)
    finally:
        await newcomer.stop()
    return {"rest": {i["id"] for i in rest.json()["items"]}, "new-stream": set(newcomer.items)}


async def run_scenario(
    setup: Setup,
    crash: Callable[[Setup], Awaitable[float]],
    readers: int = 3,
    before: float = 1.5,
    after: float = 2.0,
) -> Counts:
    """Readers connected throughout and one offline reader (it read a while, left with
    its Last-Event-ID, and returns the moment Redis is back); a publisher all along.
    `crash` breaks Redis and brings it back, returning when it answered again. Then,
    once every reader has caught up, the counts against what Redis holds."""
    base = setup.ticker.base
    connected = [Reader(base, f"r{n}") for n in range(readers)]
    offline = Reader(base, "offline")
    for reader in [*connected, offline]:
        reader.start()
    await eventually(lambda: all(r.resets for r in [*connected, offline]), "first resets", 10)
    publisher = Publisher(base, setup.token)
    publisher.start()
    # The scenario's timeline (not waits for a condition): traffic before, during and
    # after the crash; the counts are taken once every reader has caught up, below.
    await asyncio.sleep(before / 2)
    await offline.stop()  # gone, with the id of the last event it had
    returning = Reader(base, "offline", offline.last_id)
    returning.items, returning.received = dict(offline.items), set(offline.received)
    await asyncio.sleep(before / 2)

    back = await crash(setup)
    returning.start()
    await asyncio.sleep(after)
    await publisher.stop()
    acknowledged = publisher.acknowledged
    items, log = await truth(setup)
    newest = max(log, key=parse_event_id)
    everyone = [*connected, returning]
    await eventually(
        lambda: all(
            r.last_id is not None and parse_event_id(r.last_id) >= parse_event_id(newest)
            for r in everyone
        ),
        f"every reader at {newest}",
        10,
    )
    counts = Counts(acknowledged=len(acknowledged), redis_items=len(items))
    kept = [a for a in acknowledged if a in items]
    counts.lost = sum(1 for a in acknowledged if a not in items and a not in log)
    for reader in everyone:
        await reader.stop()
        counts.delivered[reader.name] = sum(1 for a in acknowledged if a in reader.received)
        counts.missed[reader.name] = sum(1 for a in kept if a not in reader.received)
        counts.phantom[reader.name] = len(set(reader.items) - items)
        after_back = reader.resets_after(back)
        counts.resets[reader.name] = len(after_back)
        if after_back:
            counts.reset_delay[reader.name] = round(min(after_back), 2)
        assert not [s for s in reader.statuses if s != 200], (reader.name, reader.statuses)
    for name, shown in (await shown_by_new_clients(setup)).items():
        counts.phantom[name] = len(shown - items)
    return counts
