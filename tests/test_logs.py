"""Structured logs: JSON lines per request and per editorial action, never a secret."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.support import RedisServer, TickerServer, cli, make_token
from tests.waiting import wait_for


@pytest.fixture
def json_logging(redis_server: RedisServer) -> Iterator[TickerServer]:
    ticker = TickerServer(
        redis_server.url, TICKER_LOG_FORMAT="json", TICKER_LOG_LEVEL="info"
    ).start()
    yield ticker
    ticker.stop()


def test_json_lines(redis_server: RedisServer, json_logging: TickerServer) -> None:
    cli(redis_server.url, "channel", "add", "logged")
    token = make_token(redis_server.url, "logged")
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{json_logging.base}/api/v1/channels/logged/items"
    item = httpx.post(base, json={"text": "سطر في السجل"}, headers=auth).json()
    httpx.patch(f"{base}/{item['id']}", json={"text": "سطر مصحح"}, headers=auth)
    httpx.request("DELETE", f"{base}/{item['id']}", json={"reason": "تجربة"}, headers=auth)

    def lines() -> list[dict]:
        out = []
        for raw in json_logging.output().splitlines():
            if raw.startswith("{"):
                out.append(json.loads(raw))
        return out

    wait_for(
        lambda: any(line.get("action") == "retract" for line in lines()),
        "a retract line in the log",
    )
    found = lines()
    assert all({"time", "level", "logger", "message"} <= set(line) for line in found)
    requests = [line for line in found if line["logger"] == "ticker.access"]
    post = next(line for line in requests if line["method"] == "POST")
    assert post["status"] == 201 and post["route"] == "/api/v1/channels/{channel}/items"
    actions = [line for line in found if line["logger"] == "ticker.editorial"]
    assert [a["action"] for a in actions] == ["publish", "correct", "retract"]
    assert {a["actor"] for a in actions} == {"token:logged"}
    assert actions[0]["text"] == "سطر في السجل" and actions[2]["reason"] == "تجربة"
    assert token not in json_logging.output()


# the access log wrote the percent-decoded path, so `%0A` forged
# whole log lines and `%1B` wrote raw ESC to an operator's terminal.
FORGED_PATH = "/nothing%0AINFO%20ticker.access:%20POST%20/forged%20201%1B[2J%E2%80%AE%C2%85"
DECODED_PATH = "/nothing\nINFO ticker.access: POST /forged 201\x1b[2J\u202e\x85"
RAW_CONTROLS = {"\r", "\x1b", "\x85", "\u202e", "\u2028"}


def raw_request(base: str, target: str) -> int:
    """A request line sent byte for byte (no client library re-encodes the target)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        head = sock.recv(4096)
    return int(head.split()[1])


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_path_cannot_forge_log_lines(redis_server: RedisServer, fmt: str) -> None:
    ticker = TickerServer(redis_server.url, TICKER_LOG_FORMAT=fmt, TICKER_LOG_LEVEL="info").start()
    try:
        assert raw_request(ticker.base, FORGED_PATH) == 404
        wait_for(lambda: "nothing" in ticker.output(), "the request in the access log")
        output = ticker.output()
    finally:
        ticker.stop()
    lines = [line for line in output.split("\n") if "nothing" in line or "forged" in line]
    assert len(lines) == 1, lines  # one request, one line: nothing forged after it
    line = lines[0]
    assert not RAW_CONTROLS & set(line), repr(line)
    if fmt == "json":
        record = json.loads(line)
        assert record["path"] == DECODED_PATH  # escaped on the line, exact once decoded
        assert record["status"] == 404
    else:
        assert line.startswith("INFO ticker.access: GET /nothing\\nINFO ticker.access: POST")
        assert "\\x1b[2J\\u202e\\x85 404" in line
