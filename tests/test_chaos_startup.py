"""Chaos: `ticker serve --workers 2` with streams opened the moment `/healthz` answers
Before, a worker answered before its fan-out had loaded, and 6 of
40 starts had a stream refused with `503 The stream is starting`: a plain EventSource
does not come back after that. Now a worker accepts nothing before it has loaded.

The suite runs TICKER_CHAOS_STARTS starts (8 by default, ~25 s);
`python benchmarks/startup_streams.py` runs the 40 of the issue (~2 min).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support import RedisServer, cli, free_port, make_token
from ticker.tail import SseParser

STREAMS = 6
STARTS = int(os.environ.get("TICKER_CHAOS_STARTS", "8"))


@dataclass
class StartRun:
    statuses: list[int]  # of the streams opened as soon as /healthz answered
    delivered: int  # streams that got the item published next
    healthz_after: float  # seconds from the process start to the first /healthz answer


async def _first_publish(response: httpx.Response, parser: SseParser) -> str:
    async for chunk in response.aiter_raw():
        for event in parser.feed(chunk):
            if event.event == "publish":
                return event.data
    return ""


async def one_start(redis_url: str, token: str, metrics_dir: str) -> StartRun:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "TICKER_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
    }
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "ticker", "serve", "--port", str(port), "--workers", "2"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(5, read=None)) as c:
            while True:  # poll as a balancer would, but much more eagerly
                if proc.returncode is not None:
                    raise AssertionError(f"ticker serve exited with {proc.returncode}")
                if time.monotonic() - started > 60:
                    raise AssertionError("/healthz did not answer within 60 s")
                try:
                    if (await c.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.005)
            healthz_after = time.monotonic() - started
            async with OpenStreams(c, STREAMS) as responses:
                statuses = [r.status_code for r in responses]
                readers = [
                    asyncio.create_task(_first_publish(r, SseParser()))
                    for r in responses
                    if r.status_code == 200
                ]
                r = await c.post(
                    "/api/v1/channels/main/items",
                    json={"text": "عاجل: بث فور الإقلاع"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code == 201, r.text
                done, pending = await asyncio.wait(readers, timeout=10)
                for task in pending:
                    task.cancel()
                delivered = sum(1 for t in done if r.json()["id"] in t.result())
        return StartRun(statuses, delivered, healthz_after)
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class OpenStreams:
    """Open `n` streams at once; close them all on exit."""

    def __init__(self, client: httpx.AsyncClient, n: int) -> None:
        self.client = client
        self.n = n
        self.responses: list[httpx.Response] = []

    async def __aenter__(self) -> list[httpx.Response]:
        requests = [
            self.client.build_request("GET", "/api/v1/stream", params={"channels": "main"})
            for _ in range(self.n)
        ]
        self.responses = list(
            await asyncio.gather(*(self.client.send(q, stream=True) for q in requests))
        )
        return self.responses

    async def __aexit__(self, *exc: object) -> None:
        for response in self.responses:
            await response.aclose()


async def run_starts(redis_url: str, starts: int) -> list[StartRun]:
    token = make_token(redis_url, f"starts-{os.getpid()}-{time.monotonic_ns()}")
    metrics_dir = tempfile.mkdtemp(prefix="ticker-chaos-metrics-")
    try:
        return [await one_start(redis_url, token, metrics_dir) for _ in range(starts)]
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def summary(runs: list[StartRun]) -> str:
    refused = sum(s != 200 for run in runs for s in run.statuses)
    delivered = sum(run.delivered for run in runs)
    waits = sorted(run.healthz_after for run in runs)
    return (
        f"{len(runs)} starts of --workers 2, {STREAMS} streams each at the first /healthz: "
        f"{refused} refused (non-200), {delivered} of {len(runs) * STREAMS} got the next "
        f"publish; /healthz answered after {waits[0]:.2f}-{waits[-1]:.2f} s"
    )


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    cli(server.url, "channel", "add", "main")
    yield server
    server.kill()
    shutil.rmtree(server.dir, ignore_errors=True)


async def test_streams_at_the_first_healthz_are_served(own_redis: RedisServer) -> None:
    runs = await run_starts(own_redis.url, STARTS)
    print(summary(runs))
    assert [s for run in runs for s in run.statuses] == [200] * (STARTS * STREAMS)
    assert [run.delivered for run in runs] == [STREAMS] * STARTS
