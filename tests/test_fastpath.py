"""How a connection reaches the stream fast path (ticker/stream/fastpath.py), over raw sockets.

Every connection starts by reading its first request's head; only a plainly valid
stream request is taken over there, everything else must behave exactly as uvicorn
does. Whether a stream is served directly is read off `/readyz`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support import RedisServer, TickerServer, cli
from tests.waiting import eventually

CHANNEL = "fastpath"


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[TickerServer]:
    cli(redis_server.url, "channel", "add", CHANNEL)
    ticker = TickerServer(redis_server.url).start()
    yield ticker
    ticker.stop()


def stream_head(version: str = "1.1", extra: str = "") -> bytes:
    return (
        f"GET /api/v1/stream?channels={CHANNEL} HTTP/{version}\r\nHost: 127.0.0.1\r\n{extra}\r\n"
    ).encode()


async def subscribers(server: TickerServer) -> tuple[int, int]:
    """(all, direct) open streams, once the server has settled."""
    async with httpx.AsyncClient() as client:
        ready = (await client.get(f"{server.base}/readyz")).json()
    return ready["subscribers"], ready["direct_subscribers"]


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    data = b""
    async with asyncio.timeout(5):
        while marker not in data:
            more = await reader.read(65536)
            assert more, f"connection closed before {marker!r}; got {data!r}"
            data += more
    return data


async def open_raw(server: TickerServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def close(server: TickerServer, writer: asyncio.StreamWriter) -> None:
    """Close the connection and wait until the server has seen it go, so that the next
    test counts only its own streams."""
    writer.close()
    await writer.wait_closed()

    async def gone() -> bool:
        return await subscribers(server) == (0, 0)

    await eventually(gone, "the server holds no stream after the client closed")


async def test_a_head_arriving_in_pieces_is_served_directly(server: TickerServer) -> None:
    reader, writer = await open_raw(server)
    head = stream_head(extra="Last-Event-ID: \r\n")
    for piece in (head[:3], head[3:25], head[25:-2], head[-2:]):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.05)  # the thing under test: each piece arrives on its own
    data = await read_until(reader, b"event: reset")
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: text/event-stream; charset=utf-8\r\n" in data
    assert b"retry: " in data
    assert await subscribers(server) == (1, 1)
    await close(server, writer)
    assert await subscribers(server) == (0, 0)


async def test_a_stream_after_another_request_on_one_connection(server: TickerServer) -> None:
    reader, writer = await open_raw(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = await read_until(reader, b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    length = int(first.split(b"content-length: ")[1].split(b"\r\n")[0])
    body = first.split(b"\r\n\r\n", 1)[1]
    if len(body) < length:
        body += await reader.readexactly(length - len(body))
    writer.write(stream_head())
    await read_until(reader, b"event: reset")
    assert await subscribers(server) == (1, 1)
    await close(server, writer)


async def test_http_1_0_streams_through_the_app(server: TickerServer) -> None:
    reader, writer = await open_raw(server)
    writer.write(stream_head("1.0"))
    data = await read_until(reader, b"event: reset")
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert await subscribers(server) == (1, 0)
    await close(server, writer)


async def test_a_malformed_stream_request_gets_uvicorns_400(server: TickerServer) -> None:
    reader, writer = await open_raw(server)
    writer.write(stream_head(extra="no colon here\r\n"))
    data = await read_until(reader, b"Invalid HTTP request")
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert await reader.read() == b""  # and the connection is closed
    await close(server, writer)


async def test_an_unknown_channel_gets_the_apps_404(server: TickerServer) -> None:
    reader, writer = await open_raw(server)
    writer.write(b"GET /api/v1/stream?channels=not-there HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = await read_until(reader, b"not-there")
    assert data.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"application/problem+json" in data
    await close(server, writer)


async def test_a_long_head_within_the_limit_is_served_directly(server: TickerServer) -> None:
    reader, writer = await open_raw(server)
    writer.write(stream_head(extra=f"X-Padding: {'p' * 15_000}\r\n"))  # limit: 16 KiB
    await read_until(reader, b"event: reset")
    assert await subscribers(server) == (1, 1)
    await close(server, writer)


async def test_other_first_requests_in_pieces_are_untouched(server: TickerServer) -> None:
    reader, writer = await open_raw(server)
    for piece in (b"G", b"ET /api/v1/chan", b"nels HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.05)  # the thing under test: each piece arrives on its own
    data = await read_until(reader, CHANNEL.encode())
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    await close(server, writer)


async def test_a_client_leaving_mid_head_costs_nothing(server: TickerServer) -> None:
    for _ in range(20):
        _, writer = await open_raw(server)
        writer.write(stream_head()[:30])
        await writer.drain()
        await close(server, writer)
    assert await subscribers(server) == (0, 0)  # and it still answers
