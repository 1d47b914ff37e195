"""Request heads are bounded on both paths, over raw sockets:
the first request (read by the fast path) and later ones on a kept-alive connection
(uvicorn's httptools protocol, extended in ticker/fastpath.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RedisServer, TickerServer, cli

CHANNEL = "heads"
HEAD_TIMEOUT = 2.0
KEEP_ALIVE = 1.0
MAX_HEAD = 16 * 1024


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[TickerServer]:
    cli(redis_server.url, "channel", "add", CHANNEL)
    ticker = TickerServer(
        redis_server.url, TICKER_HEAD_TIMEOUT=HEAD_TIMEOUT, TICKER_KEEP_ALIVE=KEEP_ALIVE
    ).start()
    yield ticker
    ticker.stop()


def rss_kib(server: TickerServer) -> int:
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


async def read_all(reader: asyncio.StreamReader, timeout: float = 10) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    async with asyncio.timeout(timeout):
        while more := await reader.read(65536):
            data += more
    return data


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """One response with a content-length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


def problem(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head
    assert b"connection: close" in head
    return dict(json.loads(body))


async def send_endless_header(writer: asyncio.StreamWriter, total: int) -> int:
    """Keep sending one header's value; how many bytes went before the server stopped us."""
    sent = 0
    piece = b"x" * 8192
    try:
        while sent < total:
            writer.write(piece)
            await asyncio.wait_for(writer.drain(), 5)
            sent += len(piece)
    except (ConnectionError, TimeoutError):
        pass
    return sent


@pytest.mark.parametrize("after_another_request", [False, True], ids=["first", "kept-alive"])
async def test_a_never_ending_header_gets_431_and_costs_no_memory(
    server: TickerServer, after_another_request: bool
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    if after_another_request:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await read_response(reader)).startswith(b"HTTP/1.1 200 OK\r\n")
    before = rss_kib(server)
    writer.write(f"GET /api/v1/stream?channels={CHANNEL} HTTP/1.1\r\nX-Endless: ".encode())
    sending = asyncio.create_task(send_endless_header(writer, 32 * 1024 * 1024))
    answer = await read_all(reader)
    await sending
    grew = rss_kib(server) - before
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert "16384 bytes" in str(problem(answer)["detail"])
    assert grew < 2048, f"RSS grew by {grew} KiB"


@pytest.mark.parametrize("path", ["/api/v1/stream", "/api/v1/channels"])
async def test_a_head_just_over_the_limit_gets_431(server: TickerServer, path: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {'p' * MAX_HEAD}\r\n\r\n".encode()
    )
    answer = await read_all(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_a_post_with_a_large_body_is_not_mistaken_for_a_large_head(
    server: TickerServer,
) -> None:
    body = json.dumps({"text": "x" * 15_000}).encode()  # one packet: head and body together
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"POST /api/v1/channels/heads/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)
    )
    assert (await read_response(reader)).startswith(b"HTTP/1.1 200 OK\r\n")
    assert (await read_response(reader)).startswith(b"HTTP/1.1 401 ")  # not 431
    writer.close()


async def test_300_half_sent_heads_are_closed_after_the_timeout(server: TickerServer) -> None:
    partials = [
        b"",  # connected, silent
        # the fast path
        f"GET /api/v1/stream?channels={CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode(),
        b"GET /api/v1/channels HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",  # handed to uvicorn
    ]
    connections = []
    started = time.monotonic()
    for n in range(300):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(partials[n % 3])
        connections.append((reader, writer))
    answers = await asyncio.gather(*(read_all(r, HEAD_TIMEOUT + 15) for r, _ in connections))
    elapsed = time.monotonic() - started
    for _, writer in connections:
        writer.close()
    assert all(a.startswith(b"HTTP/1.1 408 Request Timeout\r\n") for a in answers)
    assert HEAD_TIMEOUT - 0.1 <= elapsed <= HEAD_TIMEOUT + 15, elapsed


async def test_a_head_sent_one_byte_at_a_time_still_times_out(server: TickerServer) -> None:
    """A trickle keeps uvicorn's keep-alive timer from firing; the head timeout does not
    restart with each byte, nor when the fast path hands the connection over."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await read_response(reader)
    started = time.monotonic()

    async def trickle() -> None:
        for byte in b"GET /api/v1/channels HTTP/1.1\r\nX-Slow: " + b"y" * 1000:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.2)  # the thing under test: a trickle, one byte at a time

    sending = asyncio.create_task(trickle())
    answer = await read_all(reader, HEAD_TIMEOUT + 10)
    sending.cancel()
    elapsed = time.monotonic() - started
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert elapsed < HEAD_TIMEOUT + KEEP_ALIVE + 5, elapsed


async def test_an_idle_kept_alive_connection_is_closed(server: TickerServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await read_response(reader)
    started = time.monotonic()
    assert await read_all(reader) == b""
    assert time.monotonic() - started < KEEP_ALIVE + 5
    writer.close()


async def test_a_stream_pipelined_behind_another_request_waits_its_turn(
    server: TickerServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /api/v1/channels HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        + f"GET /api/v1/stream?channels={CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    )
    first = await read_response(reader)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b'"channels"' in first
    stream = b""
    async with asyncio.timeout(5):
        while b"event: reset" not in stream:
            stream += await reader.read(65536)
    assert stream.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"text/event-stream" in stream.split(b"\r\n\r\n")[0]
    assert b"x-content-type-options: nosniff" in stream.lower()
    writer.close()


async def test_a_request_pipelined_behind_a_stream_is_never_interleaved(
    server: TickerServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"GET /api/v1/stream?channels={CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        + b"GET /api/v1/channels HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    data = b""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(3):  # a ping round (10 s) is not needed: a reset came
            while True:
                more = await reader.read(65536)
                assert more
                data += more
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"event: reset" in data
    assert data.count(b"HTTP/1.1 ") == 1, data
    writer.close()
