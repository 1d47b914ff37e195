"""A subscriber that stops reading never delays the others and costs a bounded amount:
its buffers fill, it is dropped and reset, and it resumes with its last id losing
nothing (docs/design.md, invariant 4).

Both paths are tested: HTTP/1.1 streams take the fast path (ticker/stream/fastpath.py),
HTTP/1.0 ones go through the app. "Written to it" is measured as what a healthy
reader of the same channel has received when the stalled one is seen gone: the
server offers both the same frames.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.client_model import ModelClient
from tests.stream_support import (
    LONG_URL,
    SEND_TIMEOUT,
    SLOW_READER_SETTINGS,
    SUBSCRIBER_BUFFER,
    open_streams,
    stalled_connection,
    wait_for_streams,
)
from tests.support import RedisServer, Stream, TickerServer, cli, make_token, open_stream
from ticker.tail import SseParser

PING_SECONDS = 2.0
ALLOWANCE = 128 * 1024  # dropped before buffer + 128 KiB was written to it
TEXT = "خبر طويل " * 30
PATHS = pytest.mark.parametrize("version", ["1.1", "1.0"], ids=["fast-path", "asgi"])


@pytest.fixture(scope="module")
def ticker(redis_server: RedisServer) -> Iterator[TickerServer]:
    server = TickerServer(
        redis_server.url,
        **SLOW_READER_SETTINGS,
        TICKER_PING_SECONDS=PING_SECONDS,
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token(redis_server: RedisServer) -> str:
    return make_token(redis_server.url, "backpressure")


def new_channel(redis_server: RedisServer, name: str) -> str:
    cli(redis_server.url, "channel", "add", name)
    return name


def read_what_is_left(sock: socket.socket) -> tuple[bytes, bool]:
    """What the stalled client can still read, and whether the server reset it."""
    sock.settimeout(10)
    data = bytearray()
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
    except ConnectionResetError:
        return bytes(data), True
    return bytes(data), False


def lingering(port: int) -> int:
    """Server-side sockets of `port` still in FIN-WAIT-1: closed, buffers still held."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "04":  # TCP_FIN_WAIT1
                count += 1
    return count


async def publish(api: httpx.AsyncClient, channel: str, n: int) -> str:
    r = await api.post(
        f"/api/v1/channels/{channel}/items", json={"text": f"{n} {TEXT}", "url": LONG_URL}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def until_has(stream: Stream, event_id: str) -> None:
    while stream.last_id != event_id:
        await stream.next(timeout=5)


@PATHS
async def test_stalled_reader_on_a_busy_channel_is_dropped_early_and_resumes(
    redis_server: RedisServer, ticker: TickerServer, token: str, version: str
) -> None:
    channel = new_channel(redis_server, f"busy-{version.replace('.', '')}")
    readers = [ModelClient(ticker.base, [channel]) for _ in range(5)]
    for reader in readers:
        reader.connect()
    stalled = stalled_connection(ticker.port, channel, version)
    ids: list[str] = []
    async with (
        open_stream(ticker.base, {"channels": channel}) as witness,
        httpx.AsyncClient(
            base_url=ticker.base, timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as api,
    ):
        await wait_for_streams(ticker.base, 7)
        written_at_drop = None
        for n in range(400):
            ids.append(await publish(api, channel, n))
            await until_has(witness, ids[-1])
            if await open_streams(ticker.base) == 6:
                written_at_drop = len(witness.raw)
                break
        assert written_at_drop is not None, "the stalled reader was never dropped"
        assert written_at_drop < SUBSCRIBER_BUFFER + ALLOWANCE, written_at_drop
        for n in range(len(ids), len(ids) + 20):  # the others carry on
            ids.append(await publish(api, channel, n))

    for reader in readers:
        await reader.wait_for(ids[-1], timeout=5)
        reader.check()
        assert reader.events == len(ids) and reader.connects == 1

    raw, reset = await asyncio.to_thread(read_what_is_left, stalled)
    stalled.close()
    assert reset, "a stuck reader is reset, not closed gracefully"
    assert lingering(ticker.port) == 0
    head, _, body = raw.partition(b"\r\n\r\n")
    assert not raw or head.startswith(b"HTTP/1.1 200")
    text = _dechunk(body) if b"chunked" in head else body
    events = SseParser().feed(text)
    got = [e.id for e in events if e.event == "publish"]
    assert got == ids[: len(got)], "what it did get is an exact prefix"

    # It comes back with its last id and gets exactly the rest.
    resumed = ModelClient(ticker.base, [channel])
    resumed.last_id = got[-1] if got else next(e.id for e in events if e.event == "reset")
    resumed.connect()
    await resumed.wait_for(ids[-1], timeout=10)
    resumed.check()
    assert resumed.events == len(ids) - len(got)
    for reader in [*readers, resumed]:
        await reader.disconnect()


@PATHS
async def test_stalled_reader_on_a_quiet_channel_goes_after_the_send_timeout(
    redis_server: RedisServer, ticker: TickerServer, token: str, version: str
) -> None:
    # A snapshot of 100 long items (~260 KB) fills the stalled client's socket buffers
    # at once; afterwards only pings are written, and none of them can leave.
    channel = new_channel(redis_server, f"quiet-{version.replace('.', '')}")
    async with httpx.AsyncClient(
        base_url=ticker.base, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        for n in range(100):
            await publish(api, channel, n)
    before = await open_streams(ticker.base)
    stalled = stalled_connection(ticker.port, channel, version)
    await wait_for_streams(ticker.base, before + 1)
    started = time.monotonic()
    async with asyncio.timeout(SEND_TIMEOUT + 15):
        while await open_streams(ticker.base) != before:
            await asyncio.sleep(0.1)
    elapsed = time.monotonic() - started
    # Dropped by the timeout, not by the buffer limit (a snapshot is not falling behind).
    assert elapsed >= SEND_TIMEOUT - 0.5, elapsed
    _, reset = await asyncio.to_thread(read_what_is_left, stalled)
    stalled.close()
    assert reset
    assert lingering(ticker.port) == 0


async def test_a_reader_that_keeps_up_slowly_is_not_dropped(
    redis_server: RedisServer, ticker: TickerServer, token: str
) -> None:
    """Pings that do leave are progress: a quiet stream lives past the send timeout."""
    channel = new_channel(redis_server, "patient")
    async with open_stream(ticker.base, {"channels": channel}) as stream:
        await stream.next_of("reset")
        # The thing under test: a quiet stream outlives the send timeout by two pings.
        await asyncio.sleep(SEND_TIMEOUT + 2 * PING_SECONDS)
        async with httpx.AsyncClient(
            base_url=ticker.base, timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            event_id = await publish(api, channel, 0)
        await until_has(stream, event_id)
        assert stream.comments >= 2 and not stream.closed.is_set()


def _dechunk(body: bytes) -> bytes:
    """HTTP/1.1 chunked transfer coding, as far as it goes (the stream was cut)."""
    out = bytearray()
    while body:
        size_line, sep, rest = body.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)
