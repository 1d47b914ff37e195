"""Graceful shutdown: on SIGTERM `ticker serve` stops accepting, sends
every open stream a final `retry:` with a randomised delay (so that a deploy does not
cause a reconnect storm), ends each chunked response properly and exits within a bound.
A client that then resumes on another process with its Last-Event-ID misses nothing.

The streams here are read from raw sockets, so that the HTTP/1.1 framing itself (the
last chunk and the `0` chunk that ends the body) is what is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import RedisServer, TickerServer, cli, make_token, open_stream
from ticker.store import Keys
from ticker.tail import SseParser

CHANNEL = "farewell"
STREAMS = 8
RETRY_MS = 2000  # TICKER_RETRY_MS's default: the farewell lies in [base, 5 x base]
EXIT_WITHIN = 6.0  # uvicorn's 5 s graceful timeout in `ticker serve`, plus a little


class RawStream:
    """`GET /api/v1/stream` on a plain socket, read chunk by chunk until the server
    closes the connection."""

    def __init__(self) -> None:
        self.head = b""
        self.chunks: list[bytes] = []  # the body's chunks, the empty last chunk included
        self.after_end = b""  # anything sent after the body ended (must be nothing)
        self.parser = SseParser()
        self.ids: list[str] = []
        self.resets = 0
        self.error: str | None = None
        self.closed_at: float | None = None
        self.done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def terminated(self) -> bool:
        """The body ended with the zero-size chunk and its CRLF (no trailer)."""
        return bool(self.chunks) and self.chunks[-1] == b""

    async def open(self, port: int, channels: str) -> RawStream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /api/v1/stream?channels={channels} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        self.head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        self._task = asyncio.create_task(self._read(reader, writer))
        return self

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                data = await reader.readexactly(size + 2)
                if not data.endswith(b"\r\n"):
                    self.error = f"a chunk not followed by CRLF: {data[-20:]!r}"
                    return
                self.chunks.append(data[:-2])
                if size == 0:
                    break
                for event in self.parser.feed(data[:-2]):
                    if event.event == "reset":
                        self.resets += 1
                    elif event.id is not None:
                        self.ids.append(event.id)
            self.after_end = await reader.read()  # until the server closes
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.closed_at = time.monotonic()
            writer.close()
            self.done.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@pytest.fixture(params=["fast-path", "asgi"])
def servers(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[RedisServer, TickerServer, TickerServer, str]]:
    """The process that leaves serves its streams on the fast path, or through ASGI
    (sse-starlette), which must say goodbye the same way."""
    redis = RedisServer().start()
    cli(redis.url, "channel", "add", CHANNEL, "--title", "وداعاً")
    token = make_token(redis.url, "shutdown")
    fast = "true" if request.param == "fast-path" else "false"
    leaving = TickerServer(redis.url, TICKER_STREAM_FAST_PATH=fast)
    staying = TickerServer(redis.url)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(TickerServer.start, (leaving, staying)))
        yield redis, leaving, staying, token
    finally:
        leaving.stop()
        staying.stop()
        redis.kill()


def direct_subscribers(server: TickerServer) -> int:
    return httpx.get(f"{server.base}/readyz", timeout=2).json()["direct_subscribers"]


async def test_sigterm_sends_a_randomised_retry_ends_streams_and_loses_nothing(
    servers: tuple[RedisServer, TickerServer, TickerServer, str],
) -> None:
    redis, leaving, staying, token = servers
    streams = [await RawStream().open(leaving.port, CHANNEL) for _ in range(STREAMS)]
    assert all(s.head.startswith(b"HTTP/1.1 200 ") for s in streams)
    assert all(b"transfer-encoding: chunked" in s.head.lower() for s in streams)
    fast = leaving.env["TICKER_STREAM_FAST_PATH"] == "true"
    assert direct_subscribers(leaving) == (STREAMS if fast else 0), "not on the expected path"

    published: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=staying.base, headers=headers, timeout=5) as api:

        async def post(text: str) -> None:
            r = await api.post(f"/api/v1/channels/{CHANNEL}/items", json={"text": text})
            assert r.status_code == 201, r.text
            published.append(r.json()["id"])

        for n in range(5):
            await post(f"قبل الإيقاف {n}")
        deadline = time.monotonic() + 3
        while any(not s.ids or s.ids[-1] != published[-1] for s in streams):
            assert time.monotonic() < deadline, "the streams did not get the items"
            await asyncio.sleep(0.02)

        assert leaving.proc is not None
        signalled = time.monotonic()
        leaving.proc.send_signal(signal.SIGTERM)
        # Items keep coming while the process shuts down and before its clients return.
        for n in range(5):
            await post(f"أثناء الإيقاف {n}")
            await asyncio.sleep(0.02)  # the scenario: items spread over the shutdown
        await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in streams)), EXIT_WITHIN)
        with pytest.raises(OSError):  # no longer accepting (or gone)
            await asyncio.open_connection("127.0.0.1", leaving.port)
        await asyncio.to_thread(leaving.proc.wait, EXIT_WITHIN)
        exited = time.monotonic() - signalled
        leaving.proc = None
        for n in range(3):
            await post(f"بعد الإيقاف {n}")

    assert exited < EXIT_WITHIN, f"SIGTERM to exit took {exited:.1f} s"
    farewells = []
    for n, s in enumerate(streams):
        assert s.error is None, f"stream {n} did not end cleanly: {s.error}"
        assert s.terminated and s.after_end == b"", f"stream {n}: body not ended properly"
        assert s.closed_at is not None and s.closed_at - signalled < EXIT_WITHIN
        # The last data chunk is the farewell: a retry-only block, nothing after it.
        match = re.fullmatch(rb"retry: (\d+)\n\n", s.chunks[-2])
        assert match, f"stream {n} ended with {s.chunks[-2]!r}, not a retry: frame"
        farewells.append(int(match.group(1)))
    assert all(RETRY_MS <= v <= 5 * RETRY_MS for v in farewells), farewells
    assert len(set(farewells)) > 1, f"every stream got the same delay: {farewells}"

    # Each client resumes on the other process from its last id and misses nothing.
    log = redis.client()
    try:
        for n, s in enumerate(streams):
            last = s.parser.last_event_id
            assert last == s.ids[-1]
            wanted = [
                entry_id
                for entry_id, fields in log.xrange(Keys("ticker:").log, min=f"({last}")
                if fields["channel"] == CHANNEL
            ]
            assert published[-1] in wanted and len(wanted) >= 3, wanted
            async with open_stream(
                staying.base, {"channels": CHANNEL}, {"Last-Event-ID": last}
            ) as resumed:
                got = []
                while len(got) < len(wanted):
                    got.append(await resumed.next(timeout=3))
                assert [(e.event, e.id) for e in got] == [("publish", i) for i in wanted], n
                assert await resumed.collect(quiet=0.1) == [], "more than was published"
    finally:
        log.close()
        for s in streams:
            await s.close()
