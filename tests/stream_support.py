"""Streams over raw sockets, the small buffers that make a slow reader show quickly, and
the count of open streams: shared by the tests of back-pressure (tests/test_backpressure.py),
of the stream counters (tests/test_stream_counts.py) and of the stream's edges
(tests/test_edge_streams.py)."""

from __future__ import annotations

import asyncio
import socket

import httpx

SUBSCRIBER_BUFFER = 64 * 1024
SEND_BUFFER = 16 * 1024
SEND_TIMEOUT = 3.0
LONG_URL = "https://news.example/" + "a" * 2000  # big frames fill socket buffers sooner

# A `ticker serve` that drops a reader soon: a small subscriber buffer and socket send
# buffer, a short send timeout.
SLOW_READER_SETTINGS: dict[str, object] = {
    "TICKER_SUBSCRIBER_BUFFER": SUBSCRIBER_BUFFER,
    "TICKER_STREAM_SEND_BUFFER": SEND_BUFFER,
    "TICKER_SEND_TIMEOUT": SEND_TIMEOUT,
}


def stream_request(channel: str, version: str) -> bytes:
    """GET of `channel`'s stream over HTTP/`version`: 1.1 takes the fast path, 1.0 the app."""
    return (
        f"GET /api/v1/stream?channels={channel} HTTP/{version}\r\nHost: 127.0.0.1\r\n\r\n"
    ).encode()


def stalled_connection(port: int, channel: str, version: str) -> socket.socket:
    """A stream request from a client that then never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(stream_request(channel, version))
    return sock


async def open_raw_stream(
    port: int, channel: str, version: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream over a raw socket, read up to its first `reset` event."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(stream_request(channel, version))
    received = b""
    async with asyncio.timeout(10):
        while b"event: reset" not in received:
            data = await reader.read(65536)
            assert data, f"the stream ended before its reset: {received!r}"
            received += data
    return reader, writer


async def open_streams(base: str) -> int:
    """The streams a server holds open, as its /readyz counts them."""
    async with httpx.AsyncClient() as client:
        return int((await client.get(f"{base}/readyz")).json()["subscribers"])


async def wait_for_streams(base: str, count: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while await open_streams(base) != count:
            await asyncio.sleep(0.05)
