"""POST /api/v1/beacon/lag against a real `ticker serve` (publish → screen lag):
a problem+json 4xx for every bad report, 204 and the histogram for a good one, the rate
limit per address, and the setting that turns the endpoint off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import RedisServer, TickerServer
from ticker.routes.beacon import RateLimit, client_key

URL = "/api/v1/beacon/lag"
TEXT = {"Content-Type": "text/plain;charset=UTF-8"}  # what sendBeacon sends for a string


def histogram(base: str) -> dict[str, float]:
    """ticker_screen_lag_seconds' samples: count, sum and each bucket."""
    found = {}
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith("ticker_screen_lag_seconds"):
            name, value = line.rsplit(" ", 1)
            found[name.removeprefix("ticker_screen_lag_seconds")] = float(value)
    return found


@pytest.fixture(scope="module")
def limited(redis_server: RedisServer) -> Iterator[TickerServer]:
    server = TickerServer(redis_server.url, TICKER_LAG_REPORTS_PER_MINUTE="5").start()
    yield server
    server.stop()


def test_a_good_report_is_observed(limited: TickerServer) -> None:
    before = histogram(limited.base)
    r = httpx.post(limited.base + URL, content=b"[0, 40, 950, 60000]", headers=TEXT)
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.content == b""
    after = histogram(limited.base)
    assert after["_count"] - before.get("_count", 0) == 4
    assert after["_sum"] - before.get("_sum", 0) == pytest.approx(60.99)
    grew = {k: after[k] - before.get(k, 0) for k in after if k.startswith("_bucket")}
    assert grew['_bucket{le="0.01"}'] == 1  # the 0
    assert grew['_bucket{le="0.05"}'] == 2  # and 40 ms
    assert grew['_bucket{le="1.0"}'] == 3  # and 950 ms
    assert grew['_bucket{le="30.0"}'] == 3
    assert grew['_bucket{le="60.0"}'] == 4


BAD = [
    # (body, content type, status, words the detail must have)
    (b"", "text/plain", 400, "empty"),
    (b"[12, 3", "text/plain", 400, "not a JSON list"),
    (b"\xff\xfe", "text/plain", 400, "not a JSON list"),
    (b"[" * 5000 + b"]" * 5000, "text/plain", 413, "at most 1024 bytes"),
    (b"[1]", "application/x-www-form-urlencoded", 415, "text/plain"),
    (b"[1]", "", 415, "no Content-Type"),
    (b'{"lag_ms": [1]}', "text/plain", 422, "JSON list"),
    (b"[]", "text/plain", 422, "from 1 to 20 lags, not 0"),
    (b"[" + b"1," * 20 + b"1]", "text/plain", 422, "from 1 to 20 lags, not 21"),
    (b"[-1]", "text/plain", 422, "[0] must be a whole number of milliseconds from 0 to 60000"),
    (b"[5, 60001]", "text/plain", 422, "[1] must be"),
    (b"[1.5]", "text/plain", 422, "[0] must be"),
    (b"[true]", "text/plain", 422, "[0] must be"),
    (b'["12"]', "text/plain", 422, "[0] must be"),
    (b"[1e400]", "application/json", 422, "[0] must be"),
    (b"[NaN]", "text/plain", 422, "[0] must be"),
]


@pytest.mark.parametrize(("body", "media_type", "status", "words"), BAD)
def test_bad_reports_are_refused_and_not_observed(
    server: TickerServer, body: bytes, media_type: str, status: int, words: str
) -> None:
    before = histogram(server.base).get("_count", 0)
    headers = {"Content-Type": media_type} if media_type else {}
    r = httpx.post(server.base + URL, content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["access-control-allow-origin"] == "*"
    problem = r.json()
    assert problem["status"] == status
    assert words in problem["detail"], problem
    assert histogram(server.base).get("_count", 0) == before


def test_a_lying_content_length_gets_no_more_through(server: TickerServer) -> None:
    body = b"[" + b"1," * 600 + b"1]"
    with httpx.Client() as client:
        request = client.build_request("POST", server.base + URL, content=body, headers=TEXT)
        request.headers["Content-Length"] = str(len(body))  # honest, and over the cap
        assert client.send(request).status_code == 413


def test_the_limit_per_address_then_429(limited: TickerServer) -> None:
    # The module's server takes 5 a minute from 127.0.0.1; earlier tests used some.
    codes = [
        httpx.post(limited.base + URL, content=b"[100]", headers=TEXT).status_code for _ in range(7)
    ]
    assert 204 in codes and codes[-1] == 429 and codes.count(204) <= 5
    first = codes.index(429)
    assert set(codes[first:]) == {429}
    r = httpx.post(limited.base + URL, content=b"[100]", headers=TEXT)
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert "5 lag reports this minute" in r.json()["detail"]
    # Bad reports count too: a flood of garbage costs the same as one of good ones.
    assert httpx.post(limited.base + URL, content=b"x", headers=TEXT).status_code == 429
    metrics = httpx.get(f"{limited.base}/metrics").text
    assert 'ticker_lag_reports_total{result="limited"}' in metrics


def test_a_preflight_allows_json_from_any_origin(server: TickerServer) -> None:
    r = httpx.options(
        server.base + URL,
        headers={
            "Origin": "https://news.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == "POST"
    assert r.headers["access-control-allow-headers"] == "Content-Type"
    r = httpx.post(server.base + URL, json=[250], headers={"Origin": "https://news.example"})
    assert r.status_code == 204


def test_turned_off_the_endpoint_records_nothing(redis_server: RedisServer) -> None:
    server = TickerServer(redis_server.url, TICKER_LAG_REPORTS="false").start()
    try:
        r = httpx.post(server.base + URL, content=b"[100]", headers=TEXT)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert "TICKER_LAG_REPORTS=false" in r.json()["detail"]
        assert histogram(server.base).get("_count", 0) == 0
    finally:
        server.stop()


def test_limit_windows_and_addresses() -> None:
    limit = RateLimit(2)
    assert [limit.wait("192.0.2.1", 120.0) for _ in range(3)] == [0, 0, 60]
    assert limit.wait("192.0.2.1", 179.5) == 1  # rounded up: never "retry in 0 s"
    assert limit.wait("192.0.2.2", 150.0) == 0  # another address has its own count
    assert limit.wait("192.0.2.1", 180.0) == 0  # a new window
    # IPv6: one /64 is one client, whatever address in it it picks.
    assert limit.wait("2001:db8:1:2::a", 200.0) == 0
    assert limit.wait("2001:db8:1:2:ffff::b", 200.0) == 0
    assert limit.wait("2001:db8:1:2:1234::c", 200.0) > 0
    assert limit.wait("2001:db8:1:3::a", 200.0) == 0
    assert client_key("::ffff:192.0.2.9") == "192.0.2.9"
    assert client_key("2001:db8:1:2::a") == "2001:db8:1:2::/64"
    assert client_key("unknown") == "unknown"


def test_several_workers_sum_their_lags(redis_server: RedisServer, tmp_path: Path) -> None:
    """With `--workers 2` the lags go through the multiprocess files: /metrics has each."""
    server = TickerServer(redis_server.url, TICKER_WORKERS="2", TMPDIR=str(tmp_path)).start()
    try:
        for _ in range(8):  # a connection each, taken by whichever worker accepts it
            r = httpx.post(server.base + URL, content=b"[200, 3000]", headers=TEXT)
            assert r.status_code == 204, r.text
        found = histogram(server.base)
        assert found["_count"] == 16
        assert found["_sum"] == pytest.approx(8 * 3.2)
        assert found['_bucket{le="0.25"}'] == 8
    finally:
        server.stop()
