"""The scheduler's jobs on a real server: the log is trimmed to its retention, exactly,
and a resume from before the trim gets a fresh snapshot."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.inprocess_support import app_in_thread, clock_kept
from tests.support import RedisServer, TickerServer, cli, make_token, open_stream
from tests.waiting import eventually, wait_for
from ticker.publishing import clock


@pytest.fixture
def short_retention(redis_server: RedisServer) -> Iterator[TickerServer]:
    ticker = TickerServer(
        redis_server.url,
        TICKER_RETENTION_SECONDS="2",
        TICKER_TRIM_INTERVAL="0.2",
        TICKER_RING_SIZE="1",
    ).start()
    yield ticker
    ticker.stop()


async def test_log_is_trimmed_to_its_retention(
    redis_server: RedisServer, short_retention: TickerServer
) -> None:
    cli(redis_server.url, "channel", "add", "trimmed")
    token = make_token(redis_server.url, "trim")
    client = redis_server.client()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as api:
        url = f"{short_retention.base}/api/v1/channels/trimmed/items"
        started = time.time()  # wall clock, like the log's ids
        old = [(await api.post(url, json={"text": f"قديم {n}"})).json()["id"] for n in range(3)]

        def log_ids() -> set[str]:
            return {str(eid) for eid, _ in client.xrange("ticker:log")}

        await eventually(
            lambda: not set(old) & log_ids(), "entries older than the retention are gone"
        )
        # The last of them is at least `started` old; the trim (every 0.2 s) must not
        # have taken it before its 2 s were up. Lateness only makes this larger.
        assert time.time() - started >= 1.99, "trimmed before the retention was up"
        new = (await api.post(url, json={"text": "جديد"})).json()["id"]
    assert new in log_ids(), "newer entries stay"
    trimmed = client.get("ticker:log:trimmed")
    assert tuple(map(int, trimmed.split("-"))) >= tuple(map(int, old[-1].split("-")))
    # The items themselves live on: retention is about the log, not the snapshot.
    async with httpx.AsyncClient() as client_http:
        response = await client_http.get(f"{short_retention.base}/api/v1/channels/trimmed/items")
    snapshot = response.json()
    assert [i["id"] for i in snapshot["items"]] == [new, *old[::-1]]
    # A resume from before the trim (and older than the one-event ring) gets a reset.
    async with open_stream(
        short_retention.base, {"channels": "trimmed"}, headers={"Last-Event-ID": old[0]}
    ) as s:
        reset = await s.next()
        assert reset.event == "reset"
        assert [i["id"] for i in reset.data["items"]] == [new, *old[::-1]]


def test_expiry_goes_by_the_clock_items_are_stamped_with(monkeypatch: pytest.MonkeyPatch) -> None:
    """An item's lifetime counts on the clock that stamped it: moved 50 s on, a 60 s
    item stays through whole expiry runs; 61 s on, it goes. No minute waited out."""
    # The app runs in this process: its /metrics must read this process's counters, not
    # a multiprocess folder that an earlier test left in the environment.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    own = RedisServer().start()
    try:
        cli(own.url, "channel", "add", "clocked")
        token = make_token(own.url, "clock")
        with (
            clock_kept(),
            app_in_thread(own.url, TICKER_EXPIRE_INTERVAL="0.1") as base,
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api,
        ):

            def live_ids() -> list[str]:
                items = api.get("/api/v1/channels/clocked/items").json()["items"]
                return [i["id"] for i in items]

            def expire_runs() -> float:
                text = api.get("/metrics").text
                # No sample before the process's first expiry run: that is 0 runs.
                return next(
                    (
                        s.value
                        for family in text_string_to_metric_families(text)
                        for s in family.samples
                        if s.name == "ticker_scheduler_runs_total" and s.labels["task"] == "expire"
                    ),
                    0.0,
                )

            item = api.post(
                "/api/v1/channels/clocked/items", json={"text": "خبر لدقيقة", "ttl_seconds": 60}
            ).json()
            clock.advance(50)  # 10 s short: room for a slow machine between post and check
            runs = expire_runs()
            # A run counts as it starts; the second one to start after the move means a
            # whole run on the moved clock has finished.
            wait_for(lambda: expire_runs() >= runs + 2, "two expiry runs on the moved clock")
            assert live_ids() == [item["id"]], "expired before its 60 s were up"
            clock.advance(11)
            wait_for(lambda: live_ids() == [], "the item expired once its 60 s were up")
    finally:
        own.kill()
