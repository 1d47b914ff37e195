"""Structured logs: JSON lines per request and per editorial action, never a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support import RedisServer, TickerServer, cli, make_token, wait_until


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

    wait_until(lambda: any(line.get("action") == "retract" for line in lines()))
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
