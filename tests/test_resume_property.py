"""Resume exactness as a property: whatever the publishes, corrections, retractions,
disconnects and resumes, the client's rebuilt list equals the server's, and no event
is seen twice or missed."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.client_model import ModelClient
from tests.support import RedisServer, TickerServer, cli, make_token
from tests.waiting import eventually

SAMPLES = [
    i["text"]
    for i in json.loads(
        (Path(__file__).parent / "data" / "items-ar.json").read_text(encoding="utf-8")
    )["items"]
]

CORRECTION_MARK = re.compile(r" \[تصحيح \d+\]$")

channel_index = st.integers(0, 1)
operation = st.one_of(
    st.tuples(st.just("publish"), channel_index, st.integers(0, len(SAMPLES) - 1)),
    st.tuples(st.just("correct"), channel_index, st.integers(0, 1000)),
    st.tuples(st.just("retract"), channel_index, st.integers(0, 1000)),
    st.tuples(st.just("disconnect"), st.just(0), st.just(0)),
    st.tuples(st.just("reconnect"), st.just(0), st.just(0)),
    st.tuples(st.just("pause"), st.just(0), st.integers(0, 20)),
)


@pytest.fixture(scope="module")
def setup(redis_server: RedisServer) -> Iterator[tuple[TickerServer, str, list[str]]]:
    # A small ring, so that some resumes are served from memory and some from Redis.
    ticker = TickerServer(redis_server.url, TICKER_RING_SIZE="2").start()
    channels = ["prop-a", "prop-b"]
    for c in channels:
        cli(redis_server.url, "channel", "add", c)
    yield ticker, make_token(redis_server.url, "property"), channels
    ticker.stop()


async def run(base: str, token: str, channels: list[str], ops: list[tuple[str, int, int]]) -> None:
    client = ModelClient(base, channels)
    client.connect()
    await eventually(lambda: client.last_id is not None, "the client read its first resets")
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as api:
        for n, (op, ci, arg) in enumerate(ops):
            channel = channels[ci]
            live = (await api.get(f"/api/v1/channels/{channel}/items?limit=100")).json()["items"]
            if op == "publish":
                text = f"{SAMPLES[arg]} ({n})"
                r = await api.post(
                    f"/api/v1/channels/{channel}/items",
                    json={"text": text, "priority": "normal" if n % 2 else "urgent"},
                )
                assert r.status_code == 201
            elif op == "correct" and live:
                target = live[arg % len(live)]
                # The mark replaces the last one: items live across examples, and
                # appending a mark per correction passed the 280-character limit.
                text = CORRECTION_MARK.sub("", target["text"])
                r = await api.patch(
                    f"/api/v1/channels/{channel}/items/{target['id']}",
                    json={"text": f"{text} [تصحيح {n}]"},
                )
                assert r.status_code == 200
            elif op == "retract" and live:
                target = live[arg % len(live)]
                r = await api.request(
                    "DELETE",
                    f"/api/v1/channels/{channel}/items/{target['id']}",
                    json={"reason": f"سحب {n}"},
                )
                assert r.status_code == 204
            elif op == "disconnect":
                await client.disconnect()
            elif op == "reconnect":
                await client.disconnect()
                client.connect()
            elif op == "pause":
                await asyncio.sleep(arg / 1000)
            client.check()
        await client.disconnect()
        client.connect()
        snapshots = {
            c: (await api.get(f"/api/v1/channels/{c}/items?limit=100")).json() for c in channels
        }
    newest = max(
        (s["last_event_id"] for s in snapshots.values()),
        key=lambda i: tuple(map(int, i.split("-"))),
    )
    if newest != "0-0":
        await client.wait_for(newest)
    await asyncio.sleep(0.05)  # the thing under test: no event twice or late after it
    client.check()
    for c in channels:
        assert client.newest_first(c) == snapshots[c]["items"], c
    await client.disconnect()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(operation, min_size=1, max_size=30))
@example(ops=[("publish", 0, 0)] + [("correct", 0, 0)] * 29)  # one item corrected 29 times
def test_resume_is_exact(
    setup: tuple[TickerServer, str, list[str]], ops: list[tuple[str, int, int]]
) -> None:
    server, token, channels = setup
    asyncio.run(run(server.base, token, channels, ops))
