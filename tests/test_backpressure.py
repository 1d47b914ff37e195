"""A subscriber that stops reading never delays the others: its bounded buffer fills,
it is dropped, and it resumes with its last id losing nothing (DESIGN.md, invariant 4)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.client_model import ModelClient
from tests.support import RedisServer, TickerServer, cli, make_token
from ticker.tail import SseParser

SUBSCRIBERS = 20
ITEMS = 1500
LONG_URL = "https://news.example/" + "a" * 2000  # big frames fill socket buffers sooner


@pytest.fixture
def small_buffers(redis_server: RedisServer) -> Iterator[TickerServer]:
    ticker = TickerServer(redis_server.url, TICKER_SUBSCRIBER_BUFFER="65536").start()
    yield ticker
    ticker.stop()


def stalled_connection(port: int, channel: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET /api/v1/stream?channels={channel} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    )
    return sock


def read_to_end(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = bytearray()
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return bytes(data)
        data += chunk


async def test_stalled_reader_is_dropped_and_others_carry_on(
    redis_server: RedisServer, small_buffers: TickerServer
) -> None:
    channel = "backpressure"
    cli(redis_server.url, "channel", "add", channel)
    token = make_token(redis_server.url, "backpressure")
    readers = [ModelClient(small_buffers.base, [channel]) for _ in range(SUBSCRIBERS)]
    for reader in readers:
        reader.connect()
    stalled = stalled_connection(small_buffers.port, channel)
    await asyncio.sleep(0.5)

    ids: list[str] = []
    slowest = 0.0
    async with httpx.AsyncClient(
        base_url=small_buffers.base, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        for n in range(ITEMS):
            started = time.monotonic()
            r = await api.post(
                f"/api/v1/channels/{channel}/items",
                json={"text": f"{n} " + "خبر طويل " * 30, "url": LONG_URL},
            )
            assert r.status_code == 201
            ids.append(r.json()["id"])
            if n % 100 == 99:
                # The readers keep up while the stalled one's buffers fill.
                for reader in readers:
                    await reader.wait_for(ids[-1], timeout=5)
                slowest = max(slowest, time.monotonic() - started)

    for reader in readers:
        await reader.wait_for(ids[-1], timeout=5)
        reader.check()
        assert reader.events == ITEMS and reader.connects == 1

    # The stalled connection was closed by the server: reading it ends (EOF) quickly.
    raw = await asyncio.to_thread(read_to_end, stalled, 10)
    stalled.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    events = SseParser().feed(_dechunk(body))
    got = [e.id for e in events if e.event == "publish"]
    assert 0 < len(got) < ITEMS, "the stalled reader should have been dropped part way"
    assert got == ids[: len(got)], "what it did get is an exact prefix"

    # It comes back with its last id and gets exactly the rest.
    resumed = ModelClient(small_buffers.base, [channel])
    resumed.last_id = got[-1]
    resumed.connect()
    await resumed.wait_for(ids[-1], timeout=10)
    resumed.check()
    assert resumed.events == ITEMS - len(got)
    for reader in [*readers, resumed]:
        await reader.disconnect()


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
