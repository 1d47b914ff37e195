"""A few hundred subscribers on one process (the quick, in-suite version of the fan-out
benchmark): every event reaches every subscriber once and in order, although the fan-out
is served in slices with other work in between. The stalled reader among many
is tests/test_backpressure.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support import RedisServer, TickerServer, cli, make_token
from ticker.tail import SseParser

SUBSCRIBERS = 300
ITEMS = 40


@pytest.fixture
def sliced(redis_server: RedisServer) -> Iterator[TickerServer]:
    # Slices of 64 subscribers: every fan-out here yields to the event loop four times.
    ticker = TickerServer(
        redis_server.url, TICKER_DELIVERY_SLICE="64", TICKER_SUBSCRIBER_BUFFER="65536"
    ).start()
    yield ticker
    ticker.stop()


class RawSubscriber:
    """A lean subscriber on a plain socket: parses frames, records publish ids in order."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.parser = SseParser()
        self.body = bytearray()

    async def run(self, port: int, channel: str, ready: asyncio.Event, count: list[int]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /api/v1/stream?channels={channel} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        try:
            while True:
                size = int((await reader.readline()).strip(), 16)  # chunked coding
                if size == 0:
                    return
                data = await reader.readexactly(size + 2)
                for event in self.parser.feed(data[:-2]):
                    if event.event == "reset":
                        count[0] += 1
                        if count[0] == SUBSCRIBERS:
                            ready.set()
                    elif event.event == "publish":
                        self.ids.append(event.id or "")
        finally:
            writer.close()


async def test_hundreds_of_subscribers_get_everything_once_in_order(
    redis_server: RedisServer, sliced: TickerServer
) -> None:
    cli(redis_server.url, "channel", "add", "many")
    token = make_token(redis_server.url, "many")
    subscribers = [RawSubscriber() for _ in range(SUBSCRIBERS)]
    ready, count = asyncio.Event(), [0]
    tasks = [asyncio.create_task(s.run(sliced.port, "many", ready, count)) for s in subscribers]
    await asyncio.wait_for(ready.wait(), 30)

    ids = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as api:
        for n in range(ITEMS):
            r = await api.post(
                f"{sliced.base}/api/v1/channels/many/items",
                json={
                    "text": f"{n} " + "خبر طويل " * 30,
                    "url": "https://news.example/" + "a" * 2000,
                },
            )
            ids.append(r.json()["id"])
    for _ in range(200):
        if all(len(s.ids) >= ITEMS for s in subscribers):
            break
        await asyncio.sleep(0.05)
    for s in subscribers:
        assert s.ids == ids, "every subscriber gets every event once, in order"
    async with httpx.AsyncClient() as client:
        ready_info = (await client.get(f"{sliced.base}/readyz")).json()
    assert ready_info["subscribers"] == ready_info["direct_subscribers"] == SUBSCRIBERS
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
