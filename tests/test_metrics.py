"""/metrics in Prometheus text format, summed over worker processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import RedisServer, TickerServer, cli, make_token, open_stream
from tests.waiting import eventually


def samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(f"{base}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_follow_the_service(
    server: TickerServer, api: httpx.Client, channel: str
) -> None:
    before = samples(server.base)
    async with open_stream(server.base, {"channels": channel}) as s:
        await s.next_of("reset")
        await asyncio.to_thread(
            api.post, f"/api/v1/channels/{channel}/items", json={"text": "قياس"}
        )
        await s.next_of("publish")
        during = samples(server.base)
    assert value(during, "ticker_subscribers", channel=channel) == 1
    assert value(during, "ticker_events_total", type="publish") > value(
        before, "ticker_events_total", type="publish"
    )
    assert value(during, "ticker_deliveries_total") > value(before, "ticker_deliveries_total")
    assert value(during, "ticker_delivery_lag_seconds_count") > 0
    assert value(during, "ticker_resets_total") > value(before, "ticker_resets_total")
    route = "/api/v1/channels/{channel}/items"
    assert (
        value(during, "ticker_http_requests_total", route=route, method="POST", status="201") >= 1
    )
    assert value(during, "ticker_scheduler_runs_total", task="expire") >= 1
    # The stream is closed on our side; the server notices on its next write or read.
    await eventually(
        lambda: value(samples(server.base), "ticker_subscribers", channel=channel) == 0,
        "the closed stream's subscriber is gone from ticker_subscribers",
    )


@pytest.fixture
def two_workers(redis_server: RedisServer) -> Iterator[TickerServer]:
    ticker = TickerServer(redis_server.url, TICKER_WORKERS="2").start()
    yield ticker
    ticker.stop()


async def test_metrics_add_up_over_workers(
    redis_server: RedisServer, two_workers: TickerServer
) -> None:
    cli(redis_server.url, "channel", "add", "workers")
    token = make_token(redis_server.url, "workers")
    streams = [open_stream(two_workers.base, {"channels": "workers"}) for _ in range(12)]
    opened = [await s.__aenter__() for s in streams]
    try:
        for s in opened:
            await s.next_of("reset")
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
            await client.post(
                f"{two_workers.base}/api/v1/channels/workers/items", json={"text": "عاملان"}
            )
        for s in opened:
            await s.next_of("publish")
        # Connections land on both workers; every scrape, whichever worker answers it,
        # reports the total.
        seen = {
            value(samples(two_workers.base), "ticker_subscribers", channel="workers")
            for _ in range(6)
        }
        assert seen == {12.0}
        found = samples(two_workers.base)
        # Each worker reads the event once and delivers it to its own subscribers.
        assert value(found, "ticker_deliveries_total") >= 12
    finally:
        for s in streams:
            await s.__aexit__(None, None, None)
