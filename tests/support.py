"""Real things for the tests: redis-server and `ticker serve` processes on free ports,
and a server-sent-event reader over a real HTTP connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.waiting import wait_for
from ticker.model import Item
from ticker.tail import SseEvent, SseParser

REDIS_SERVER = "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else "redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_channel(base: str, channel: str, **fields: str) -> None:
    """Until the server at `base` lists `channel` (with these field values). The server
    learns of channels through the log: a test that went on before it has would get 404s
    or the old fields."""
    wanted = {"id": channel, **fields}

    def listed() -> bool:
        channels = httpx.get(f"{base}/api/v1/channels", timeout=5).json()["channels"]
        return any(all(c.get(k) == v for k, v in wanted.items()) for c in channels)

    wait_for(listed, f"the server lists the channel {wanted} in /api/v1/channels")


class RedisServer:
    """A redis-server of the test's own, on a free port, with the append-only file on."""

    def __init__(self, appendonly: bool = True, extra: list[str] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ticker-redis-"))
        self.port = free_port()
        self.appendonly = appendonly
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        wait_for(client.ping, f"redis-server on port {self.port} answers PING")
        client.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to save anything beyond the append-only file."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


class TickerServer:
    """`ticker serve` in a subprocess: real uvicorn on a real port."""

    def __init__(self, redis_url: str, **env: Any) -> None:
        self.port = free_port()
        self.redis_url = redis_url
        self.env = {k: str(v) for k, v in env.items()}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="ticker-serve-", suffix=".log", delete=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TickerServer:
        env = {**os.environ, "REDIS_URL": self.redis_url, "TICKER_LOG_LEVEL": "warning", **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ticker", "serve", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"ticker serve exited:\n{self.output()}")
            r = httpx.get(f"{self.base}/readyz", timeout=1)
            return r.status_code == 200 and r.json().get("stream") == "ready"

        wait_for(ready, f"ticker serve on port {self.port} is ready", timeout=20)
        return self

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def cli(
    redis_url: str, *args: str, input: str | None = None, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ticker", *args],
        env={**os.environ, "REDIS_URL": redis_url, **env},
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ticker {' '.join(args)} failed: {result.stderr}")
    return result


def suite_server(redis_url: str) -> TickerServer:
    """The `ticker serve` that most tests share (tests/conftest.py, tests/own_store.py).

    Its Redis fsyncs every write (appendfsync always), and on a loaded CI machine one
    fsync can stall it past the API's 0.8 s call timeout: a page would then be a 503
    that no test asked for. Tests of that timeout start servers of their own.
    """
    return TickerServer(redis_url, TICKER_EXPIRE_INTERVAL="0.5", TICKER_REDIS_TIMEOUT="5")


def make_token(redis_url: str, name: str, *channels: str) -> str:
    args = ["token", "create", "--name", name]
    for c in channels:
        args += ["--channel", c]
    return cli(redis_url, *args).stdout.strip().splitlines()[-1]


@dataclass
class Event:
    id: str | None
    event: str
    data: Any

    @classmethod
    def of(cls, raw: SseEvent) -> Event:
        return cls(raw.id, raw.event, json.loads(raw.data) if raw.data else None)


class Stream:
    """An open SSE response, read in a background task into a queue of events."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.comments = 0
        self.status = 0
        self.headers: httpx.Headers = httpx.Headers()
        self.closed = asyncio.Event()
        self.last_id: str | None = None
        self.raw = bytearray()

    @property
    def retry(self) -> int | None:
        match = re.search(rb"(?m)^retry: (\d+)$", bytes(self.raw))
        return int(match.group(1)) if match else None

    async def next(self, timeout: float = 2.0) -> Event:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def next_of(self, *types: str, timeout: float = 2.0) -> Event:
        while True:
            event = await self.next(timeout)
            if event.event in types:
                return event

    async def take(self, n: int, timeout: float = 5.0) -> list[Event]:
        """The next `n` events, each within `timeout`: for tests that know how many are
        due, instead of `collect`'s quiet spell (which a loaded machine can outlast)."""
        got: list[Event] = []
        for _ in range(n):
            try:
                got.append(await self.next(timeout))
            except TimeoutError:
                raise AssertionError(f"{n} events expected, {len(got)} came: {got}") from None
        return got

    async def until(self, event_id: str, timeout: float = 5.0) -> list[Event]:
        """Events up to and including the one with `event_id`, each within `timeout`."""
        got: list[Event] = []
        while not got or got[-1].id != event_id:
            try:
                got.append(await self.next(timeout))
            except TimeoutError:
                raise AssertionError(f"no event {event_id} came; got {got}") from None
        return got

    async def collect(self, quiet: float = 0.3) -> list[Event]:
        """Events until none arrives for `quiet` seconds."""
        out = []
        while True:
            try:
                out.append(await self.next(quiet))
            except TimeoutError:
                return out


@contextlib.asynccontextmanager
async def open_stream(
    base: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[Stream]:
    stream = Stream()
    started = asyncio.Event()

    async def read() -> None:
        parser = SseParser()
        timeout = httpx.Timeout(5.0, read=None)
        try:
            async with (
                httpx.AsyncClient(timeout=timeout) as client,
                client.stream(
                    "GET", f"{base}/api/v1/stream", params=params, headers=headers
                ) as response,
            ):
                stream.status = response.status_code
                stream.headers = response.headers
                started.set()
                async for chunk in response.aiter_raw():
                    stream.raw += chunk
                    stream.comments += chunk.count(b"\n: ping")
                    stream.comments += chunk.startswith(b": ping")
                    for raw in parser.feed(chunk):
                        if raw.id is not None:
                            stream.last_id = raw.id
                        await stream.events.put(Event.of(raw))
        except httpx.HTTPError:
            pass
        finally:
            started.set()
            stream.closed.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(started.wait(), 10)
    try:
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def bare_item(channel: str, text: str) -> Item:
    """An item to publish straight through the store, for tests where only its channel and
    text matter (its times are fixed; the store's expiry is given apart)."""
    moment = "2026-11-29T21:31:00Z"
    return Item(
        channel=channel,
        text=text,
        url=None,
        priority="urgent",
        created_at=moment,
        updated_at=moment,
        expires_at=moment,
    )
