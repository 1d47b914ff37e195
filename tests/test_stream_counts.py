"""Streams opened and ended, counted by path and by reason:
`ticker_stream_connects_total{path}` and `ticker_stream_disconnects_total{reason}`, read
from a real `ticker serve`'s /metrics, on both paths: HTTP/1.1 streams take the fast path,
HTTP/1.0 ones go through the app."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from tests.stream_support import (
    LONG_URL,
    SLOW_READER_SETTINGS,
    open_raw_stream,
    stalled_connection,
)
from tests.support import RedisServer, TickerServer, cli, make_token
from tests.test_metrics_workers import streams_held, workers
from ticker import metrics
from ticker.broker import RedisBroker
from ticker.config import Settings
from ticker.fanout import Fanout, Subscriber
from ticker.frames import Frame
from ticker.store import LogEntry, open_store

PATHS = pytest.mark.parametrize(
    ("version", "path"), [("1.1", "fast"), ("1.0", "asgi")], ids=["fast-path", "asgi"]
)
Counts = dict[tuple[str, str], float]
BASE_MS = int(time.time() * 1000)  # ids far in the future would be refused


@pytest.fixture(scope="module")
def ticker(redis_server: RedisServer) -> Iterator[TickerServer]:
    server = TickerServer(
        redis_server.url,
        **SLOW_READER_SETTINGS,
    ).start()
    yield server
    server.stop()


def new_channel(redis_url: str) -> str:
    name = f"counts-{uuid.uuid4().hex[:8]}"
    cli(redis_url, "channel", "add", name)
    return name


async def counts(base: str) -> Counts:
    """(metric, label value) -> value, for the two stream counters."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{base}/metrics")).text
    found: Counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ticker_stream_connects_total":
                found["connects", sample.labels["path"]] = sample.value
            elif sample.name == "ticker_stream_disconnects_total":
                found["disconnects", sample.labels["reason"]] = sample.value
    return found


async def until_counted(base: str, before: Counts, expected: Counts, timeout: float = 10) -> None:
    """Until every counter in `expected` has grown by exactly that much since `before`."""
    deadline = time.monotonic() + timeout
    while True:
        now = await counts(base)
        grown = {key: now.get(key, 0) - before.get(key, 0) for key in expected}
        if grown == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"counters grew by {grown}, expected {expected}")
        await asyncio.sleep(0.1)


@PATHS
async def test_a_client_that_closes_counts_as_client(
    redis_server: RedisServer, ticker: TickerServer, version: str, path: str
) -> None:
    channel = new_channel(redis_server.url)
    before = await counts(ticker.base)
    _, writer = await open_raw_stream(ticker.port, channel, version)
    await until_counted(ticker.base, before, {("connects", path): 1, ("disconnects", "client"): 0})
    writer.close()
    await writer.wait_closed()
    await until_counted(
        ticker.base,
        before,
        {
            ("connects", path): 1,
            ("connects", "fast" if path == "asgi" else "asgi"): 0,
            ("disconnects", "client"): 1,
            ("disconnects", "dropped_slow"): 0,
            ("disconnects", "error"): 0,
        },
    )


@PATHS
async def test_a_stalled_reader_counts_as_dropped_slow(
    redis_server: RedisServer, ticker: TickerServer, version: str, path: str
) -> None:
    channel = new_channel(redis_server.url)
    token = make_token(redis_server.url, f"counts-{path}")
    before = await counts(ticker.base)
    stalled = stalled_connection(ticker.port, channel, version)
    try:
        await until_counted(ticker.base, before, {("connects", path): 1})
        async with httpx.AsyncClient(
            base_url=ticker.base, timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            for n in range(400):  # ~2 KiB each: far more than the buffers it may fill
                r = await api.post(
                    f"/api/v1/channels/{channel}/items", json={"text": f"{n}", "url": LONG_URL}
                )
                assert r.status_code == 201, r.text
                now = await counts(ticker.base)
                if now.get(("disconnects", "dropped_slow"), 0) > before.get(
                    ("disconnects", "dropped_slow"), 0
                ):
                    break
        await until_counted(
            ticker.base,
            before,
            {
                ("connects", path): 1,
                ("disconnects", "dropped_slow"): 1,
                ("disconnects", "client"): 0,
                ("disconnects", "error"): 0,
            },
        )
    finally:
        stalled.close()
    # Its socket closing later (the server reset it already) is not counted again.
    await until_counted(ticker.base, before, {("disconnects", "client"): 0})


async def test_a_worker_stopped_with_sigterm_counts_its_streams_as_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--workers 2`: SIGTERM one worker (uvicorn replaces it). Every stream it served ends
    with a farewell and counts as `shutdown`; the counters of a worker that exited stay
    in the multiprocess sum, so the survivor's scrape shows them."""
    redis = RedisServer().start()
    channel = new_channel(redis.url)
    temp = tmp_path / "tmp"  # where `ticker serve` makes its metrics folder
    temp.mkdir()
    # Its own folder, as `ticker serve --workers 2` makes one (an earlier test may have
    # left the variable set in this process).
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    ticker = TickerServer(redis.url, TICKER_WORKERS="2", TMPDIR=str(temp)).start()
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        assert ticker.proc is not None
        supervisor = ticker.proc.pid
        before = await counts(ticker.base)
        for n in range(16):
            opened.append(await open_raw_stream(ticker.port, channel, ("1.1", "1.0")[n % 2]))
        await until_counted(ticker.base, before, {("connects", "fast"): 8, ("connects", "asgi"): 8})
        first = workers(supervisor)
        assert len(first) == 2, first
        # The kernel decides which worker takes each connection: stop one that holds some.
        folder = _metrics_folder(first)
        victim = max(first, key=lambda pid: streams_held(folder, pid))
        held = int(streams_held(folder, victim))
        assert held > 0
        os.kill(victim, signal.SIGTERM)

        async def ended(reader: asyncio.StreamReader) -> bool:
            try:
                async with asyncio.timeout(0.2):
                    rest = await reader.read()  # to the end: the farewell, then EOF
            except TimeoutError:
                return False
            assert b"retry: " in rest or rest == b"", rest
            return True

        deadline = time.monotonic() + 20
        closed: set[int] = set()
        while time.monotonic() < deadline and len(workers(supervisor) - first) < 1:
            for i, (reader, _) in enumerate(opened):
                if i not in closed and await ended(reader):
                    closed.add(i)
            await asyncio.sleep(0.1)
        for i, (reader, _) in enumerate(opened):
            if i not in closed and await ended(reader):
                closed.add(i)
        assert len(workers(supervisor) - first) == 1, "uvicorn did not replace the worker"
        assert len(closed) == held, (closed, held)  # the stopped worker's streams, no other
        await until_counted(
            ticker.base,
            before,
            {
                ("disconnects", "shutdown"): len(closed),
                ("disconnects", "client"): 0,
                ("disconnects", "dropped_slow"): 0,
                ("disconnects", "error"): 0,
            },
            timeout=20,
        )
    finally:
        for _, writer in opened:
            writer.close()
        ticker.stop()
        redis.kill()


class Broken(Subscriber):
    """A subscriber whose writes fail once live, as a bug in a transport would."""

    __slots__ = ()

    def write(self, frame: Frame) -> None:
        raise OSError("this transport is broken")

    def write_many(self, frames: list[Frame]) -> None:
        pass  # its reset goes through


class Recorder(Subscriber):
    __slots__ = ("frames",)

    def __init__(self, channels: frozenset[str] | None) -> None:
        super().__init__(channels)
        self.frames: list[Frame] = []

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)

    def write_many(self, frames: list[Frame]) -> None:
        self.frames.extend(frames)


def entry(seq: int, type_: str, text: str = "") -> LogEntry:
    data = json.dumps({"id": "main", "title": "main"})
    if type_ == "publish":
        data = json.dumps({"text": text, "priority": "normal"}, ensure_ascii=False)
    return LogEntry(id=f"{BASE_MS}-{seq}", type=type_, channel="main", item="", data=data)


@pytest.fixture
async def fanout(redis_server: RedisServer) -> AsyncIterator[Fanout]:
    settings = Settings.from_env(
        {"REDIS_URL": redis_server.url, "TICKER_KEY_PREFIX": f"counts-{uuid.uuid4().hex[:8]}:"}
    )
    redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    # Never started: the test hands it the entries its reader would have read.
    fanout = Fanout(RedisBroker(open_store(redis, settings), redis), settings)
    await fanout.apply([entry(1, "channel")])
    yield fanout
    await fanout.stop()


async def test_a_subscriber_whose_write_fails_counts_as_error(fanout: Fanout) -> None:
    """Nothing in a real transport's write raises (asyncio reports socket errors through
    `connection_lost`, a client's reset among them), so this one is provoked with a
    subscriber that fails, on a real fan-out: it is counted once, as `error`, and the
    others go on."""
    error = metrics.child(metrics.stream_disconnects, "error")
    before = error._value.get()
    broken, healthy = Broken(frozenset({"main"})), Recorder(frozenset({"main"}))
    fanout.subscribe(broken, None)
    fanout.subscribe(healthy, None)
    await fanout.apply([entry(n, "publish", f"خبر {n}") for n in range(2, 5)])
    await fanout.apply([entry(5, "publish", "خبر ٥")])
    assert broken.ended == "error"
    assert error._value.get() == before + 1
    assert broken not in fanout.subscribers()
    assert healthy in fanout.subscribers() and healthy.ended is None
    assert len(healthy.frames) == 3  # its reset, then each of the two passes


def _metrics_folder(worker_pids: set[int]) -> Path:
    """The multiprocess metrics folder the workers write to (from a worker's environment)."""
    pid = min(worker_pids)
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    [value] = [e.split(b"=", 1)[1] for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(value.decode())
