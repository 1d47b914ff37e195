"""`ticker tail` explains itself, against a real server that is
stopped and restarted: when and why the connection was lost, when it retries, and whether
the resume replayed everything ("nothing missed") or the server had to reset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support import RedisServer, TickerServer, cli
from tests.tail_support import TailProcess
from tests.waiting import wait_for
from ticker.store import Keys

CHANNEL = "tail-news"
CLOCK = r"\d\d:\d\d:\d\d"
KEYS = Keys("ticker:")


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    cli(server.url, "channel", "add", CHANNEL, "--title", "Tail")
    yield server
    server.kill()


@pytest.fixture
def ticker(redis: RedisServer) -> Iterator[TickerServer]:
    # A short retry: base keeps the reconnects quick.
    server = TickerServer(redis.url, TICKER_RETRY_MS="200").start()
    yield server
    server.stop()


def post(redis: RedisServer, text: str) -> str:
    return str(json.loads(cli(redis.url, "post", "--channel", CHANNEL, text).stdout)["id"])


def test_human_output_explains_a_restart(redis: RedisServer, ticker: TickerServer) -> None:
    tail = TailProcess("--server", ticker.base, "--channel", CHANNEL)
    try:
        tail.wait_for(tail.out, lambda line: f"  {CHANNEL}  reset  " in line, "the snapshot")
        first = post(redis, "قبل الإيقاف")
        tail.wait_for(tail.out, lambda line: first in line, "the first item")

        ticker.stop()  # SIGTERM: the server ends each stream cleanly
        lost = tail.wait_for(tail.err, lambda line: "connection lost" in line, "the loss")
        assert re.fullmatch(
            rf"{CLOCK}  connection lost \(the server ended the stream\), retrying in \d+\.\d s",
            lost,
        ), lost
        refused = tail.wait_for(tail.err, lambda line: "cannot reconnect" in line, "a retry")
        assert re.fullmatch(
            rf"{CLOCK}  cannot reconnect \(the server refused the connection\), "
            r"retrying in \d+\.\d s",
            refused,
        ), refused

        missed = post(redis, "أثناء الإيقاف")  # straight into Redis while no server runs
        ticker.start()
        resumed = tail.wait_for(tail.err, lambda line: "resumed" in line, "the resume")
        assert re.fullmatch(rf"{CLOCK}  resumed after {first}, nothing missed", resumed)
        line = tail.wait_for(tail.out, lambda line: missed in line, "the item published away")
        assert line.endswith(f"  {CHANNEL}  publish  {missed}  أثناء الإيقاف")
        assert not any("reset received" in line for line in tail.err)
        assert sum(f"  {CHANNEL}  reset  " in line for line in tail.out) == 1
        assert tail.interrupt() == 0
    finally:
        tail.stop()


def test_json_records_disconnect_and_reset(redis: RedisServer, ticker: TickerServer) -> None:
    tail = TailProcess("--server", ticker.base, "--channel", CHANNEL, "--json")

    def record(check: object, what: str) -> dict:
        def parsed(line: str) -> bool:
            found = json.loads(line)
            return bool(check(found))  # type: ignore[operator]

        return json.loads(tail.wait_for(tail.out, parsed, what))

    try:
        record(lambda r: r.get("event") == "reset", "the snapshot")
        first = post(redis, "الأول")
        record(lambda r: r.get("id") == first, "the first item")

        ticker.kill()  # SIGKILL: the stream is cut off, no clean end
        lost = record(lambda r: r.get("status") == "disconnected", "a disconnected record")
        assert lost["lost"] is True and lost["attempt"] == 1
        assert lost["reason"] == "the server closed the connection mid-stream", lost
        assert lost["last_event_id"] == first and lost["retry_in"] > 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lost["time"])

        # While it is down, two items are published and the log is trimmed past the tail's
        # position, as the scheduler does after the retention: the server cannot replay.
        gone, kept = post(redis, "محذوف من السجل"), post(redis, "باقٍ")
        client = redis.client()
        client.xtrim(KEYS.log, minid=kept, approximate=False)
        client.set(KEYS.trimmed, gone)
        client.close()
        ticker.start()

        reset = record(lambda r: r.get("status") == "reset", "a reset record")
        assert reset["after"] == first
        # The reset record comes right before the snapshot it announces.
        snapshot = record(lambda r: r.get("event") == "reset" and r["id"] == kept, "snapshot")
        records = [json.loads(line) for line in tail.out]
        assert records.index(reset) + 1 == records.index(snapshot)
        assert [item["id"] for item in snapshot["data"]["items"]][:2] == [kept, gone]
        statuses = [r["status"] for r in records if "status" in r]
        assert "resumed" not in statuses, records
        assert statuses[0] == "disconnected" and statuses[-1] == "reset"
        assert tail.err == []  # --json: everything on stdout
        assert tail.interrupt() == 0
    finally:
        tail.stop()


def test_json_resume_after_a_restart(redis: RedisServer, ticker: TickerServer) -> None:
    tail = TailProcess("--server", ticker.base, "--channel", CHANNEL, "--json")
    try:
        tail.wait_for(tail.out, lambda line: '"event":"reset"' in line, "the snapshot")
        first = post(redis, "الأول")
        tail.wait_for(tail.out, lambda line: first in line, "the first item")
        ticker.stop()
        tail.wait_for(tail.out, lambda line: '"status":"disconnected"' in line, "the loss")
        ticker.start()
        # Nothing was published meanwhile: the replay is empty, and the tail still says so.
        line = tail.wait_for(tail.out, lambda line: '"status":"resumed"' in line, "the resume")
        assert json.loads(line)["after"] == first
        wait_for(
            lambda: httpx.get(f"{ticker.base}/readyz").status_code == 200,
            "the restarted server ready",
        )
        later = post(redis, "بعد العودة")
        tail.wait_for(tail.out, lambda line: later in line, "a live item after the resume")
        assert tail.interrupt() == 0
    finally:
        tail.stop()
