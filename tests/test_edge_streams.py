"""Cheap refusals and bookkeeping at the stream's edge (4 and 12):
the channel cap, unknown names answered from memory, the per-process stream limit,
`nosniff`, and fast-path streams in the access log. HTTP/1.1 streams take the fast
path; HTTP/1.0 ones go through the app."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.stream_support import wait_for_streams
from tests.support import RedisServer, TickerServer, cli

MAX_STREAMS = 3
CHANNEL = "edge"


@pytest.fixture(scope="module")
def redis_alone() -> Iterator[RedisServer]:
    """A Redis of this module's own, so that its command counts are this server's."""
    server = RedisServer().start()
    cli(server.url, "channel", "add", CHANNEL)
    yield server
    server.kill()


@pytest.fixture(scope="module")
def server(redis_alone: RedisServer) -> Iterator[TickerServer]:
    ticker = TickerServer(
        redis_alone.url,
        TICKER_MAX_STREAMS=MAX_STREAMS,
        TICKER_LOG_LEVEL="info",
        TICKER_LOG_FORMAT="json",
        TICKER_EXPIRE_INTERVAL=3600,
        TICKER_TRIM_INTERVAL=3600,
    ).start()
    yield ticker
    ticker.stop()


def request(path: str, version: str = "1.1") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def open_raw_stream(
    server: TickerServer, version: str = "1.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """A stream over a raw socket, read up to its first event (or its whole error)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request(f"/api/v1/stream?channels={CHANNEL}", version))
    data = b""
    async with asyncio.timeout(5):
        while b"event: reset" not in data:
            more = await reader.read(65536)
            if not more:
                break
            data += more
            if data.startswith(b"HTTP/1.1 5") and b"}" in data:
                break
    return reader, writer, data


@pytest.fixture
async def streams(server: TickerServer) -> AsyncIterator[list[asyncio.StreamWriter]]:
    """Writers of the streams a test opens; closed after it, and the server told."""
    writers: list[asyncio.StreamWriter] = []
    yield writers
    for writer in writers:
        writer.close()
    await wait_for_streams(server.base, 0)


def redis_calls(redis_server: RedisServer) -> int:
    stats = redis_server.client().info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


def access_lines(server: TickerServer) -> list[dict[str, object]]:
    lines = []
    for line in server.output().splitlines():
        if line.startswith("{") and '"ticker.access"' in line:
            lines.append(json.loads(line))
    return lines


async def test_thirty_two_channels_with_duplicates_are_fine(server: TickerServer) -> None:
    names = ",".join([CHANNEL] * 100)  # duplicates count once
    async with httpx.AsyncClient(base_url=server.base, timeout=5) as client:
        async with client.stream("GET", "/api/v1/stream", params={"channels": names}) as r:
            assert r.status_code == 200


@pytest.mark.parametrize("version", ["1.1", "1.0"], ids=["fast-path", "asgi"])
async def test_more_than_32_channels_is_a_400_naming_channels(
    server: TickerServer, version: str
) -> None:
    names = ",".join(f"c{n}" for n in range(33))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request(f"/api/v1/stream?channels={names}", version))
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
    writer.close()
    assert head.startswith(b"HTTP/1.1 400 ")
    problem = json.loads(body)
    assert problem["errors"][0]["field"] == "channels"
    assert "at most 32" in problem["detail"]


async def test_unknown_names_cost_no_redis_call_each(
    server: TickerServer, redis_alone: RedisServer
) -> None:
    names = ",".join(f"nope-{n}" for n in range(32))
    async with httpx.AsyncClient(base_url=server.base, timeout=5) as client:
        await client.get("/healthz")
        before = redis_calls(redis_alone)
        started = time.monotonic()
        r = await client.get("/api/v1/stream", params={"channels": names})
        elapsed = time.monotonic() - started
        calls = redis_calls(redis_alone) - before - 1  # the INFO that counted
    assert r.status_code == 404 and "nope-0" in r.json()["detail"]
    # One call to see how far the log goes; the background XREAD may add one.
    assert calls <= 2, calls
    assert elapsed < 1.0


async def test_a_channel_made_a_moment_ago_is_found(
    server: TickerServer, redis_alone: RedisServer
) -> None:
    # The stream request races the channel's creation through this process's reader.
    cli(redis_alone.url, "channel", "add", "brand-new")
    async with httpx.AsyncClient(base_url=server.base, timeout=5) as client:
        async with client.stream("GET", "/api/v1/stream", params={"channels": "brand-new"}) as r:
            assert r.status_code == 200


@pytest.mark.parametrize("version", ["1.1", "1.0"], ids=["fast-path", "asgi"])
async def test_streams_send_nosniff(
    server: TickerServer, streams: list[asyncio.StreamWriter], version: str
) -> None:
    _, writer, data = await open_raw_stream(server, version)
    streams.append(writer)
    head = data.split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 200 ")
    assert b"x-content-type-options: nosniff" in head


async def test_beyond_the_stream_limit_both_paths_get_503_with_retry_after(
    server: TickerServer, streams: list[asyncio.StreamWriter]
) -> None:
    for _ in range(MAX_STREAMS):
        _, writer, data = await open_raw_stream(server)
        streams.append(writer)
        assert data.startswith(b"HTTP/1.1 200 ")
    for version in ("1.1", "1.0"):
        _, writer, data = await open_raw_stream(server, version)
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), (version, data[:300])
        retry_after = next(
            line.split(b":")[1] for line in head.lower().split(b"\r\n") if b"retry-after" in line
        )
        assert 1 <= int(retry_after) <= 60
        assert f"maximum of {MAX_STREAMS} open streams" in json.loads(body)["detail"]
    # Room again once one goes.
    streams.pop().close()
    await wait_for_streams(server.base, MAX_STREAMS - 1)
    _, writer, data = await open_raw_stream(server)
    streams.append(writer)
    assert data.startswith(b"HTTP/1.1 200 ")


async def test_a_fast_path_stream_is_logged_when_it_closes(server: TickerServer) -> None:
    before = len(access_lines(server))
    _, writer, data = await open_raw_stream(server)
    assert b"event: reset" in data
    await asyncio.sleep(0.5)  # the thing under test: no line while the stream is open
    assert len(access_lines(server)) == before  # a stream is logged at its end
    writer.close()
    async with asyncio.timeout(5):
        while len(access_lines(server)) == before:
            await asyncio.sleep(0.05)
    line = access_lines(server)[-1]
    assert line["message"] == "GET /api/v1/stream 200"
    assert line["method"] == "GET" and line["path"] == "/api/v1/stream"
    assert line["status"] == 200 and line["client"] == "127.0.0.1"
    assert float(str(line["duration_ms"])) >= 500
