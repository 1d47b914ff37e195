"""The fan-out counts the streams each item went out to exactly: live,
in the resets that start streams, and in replays, across passes that yield and take in
events read meanwhile, whichever channel filters the subscribers have.

Driven directly with log entries, as the reader hands them over after one XREAD; the
counts are checked against what each subscriber actually received. The end-to-end path (readers
on two real processes, counts summed in Redis) is tests/test_status.py.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.support import RedisServer
from ticker.broker import RedisBroker
from ticker.config import Settings
from ticker.fanout import Fanout, Subscriber
from ticker.frames import Frame
from ticker.model import parse_event_id
from ticker.store import LogEntry, open_store

BASE_MS = int(time.time() * 1000)
EXPIRES = "2099-01-01T00:00:00Z"


class Recorder(Subscriber):
    __slots__ = ("data",)

    def __init__(self, channels: frozenset[str] | None) -> None:
        super().__init__(channels)
        self.data = b""

    def write(self, frame: Frame) -> None:
        self.data += frame.raw

    def write_many(self, frames: list[Frame]) -> None:
        self.data += b"".join(frame.raw for frame in frames)

    def items_received(self) -> set[tuple[str, str]]:
        """(channel, item id) of every item it was sent, in a publish or a reset."""
        text = self.data.decode()
        got = set()
        for event, data in re.findall(r"^event: (\S+)\ndata: (.*)$", text, re.M):
            body = json.loads(data)
            if event == "publish":
                got.add((body["channel"], body["id"]))
            elif event == "reset":
                got |= {(body["channel"], item["id"]) for item in body["items"]}
        return got


def entry(seq: int, type_: str, channel: str, item: str = "") -> LogEntry:
    eid = f"{BASE_MS}-{seq}"
    if type_ == "channel":
        data = json.dumps({"id": channel, "title": channel})
    elif type_ in ("publish", "update"):
        data = json.dumps(
            {"channel": channel, "text": f"خبر {seq}", "priority": "urgent", "expires_at": EXPIRES}
        )
    else:
        data = json.dumps({"id": item, "channel": channel})
    return LogEntry(id=eid, type=type_, channel=channel, item=item or eid, data=data)


@pytest.fixture
async def fanout(redis_server: RedisServer) -> AsyncIterator[Fanout]:
    settings = Settings.from_env(
        {
            "REDIS_URL": redis_server.url,
            "TICKER_DELIVERY_SLICE": "3",
            "TICKER_KEY_PREFIX": f"reach-{uuid.uuid4().hex[:8]}:",
        }
    )
    redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    fanout = Fanout(RedisBroker(open_store(redis, settings), redis), settings)
    await fanout.apply([entry(1, "channel", "a"), entry(2, "channel", "b")])
    yield fanout
    await fanout.stop()


def expected(subs: list[Recorder]) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for sub in subs:
        counts.update(sub.items_received())
    return counts


def counted(fanout: Fanout) -> Counter[tuple[str, str]]:
    return Counter({key: n for key, (n, _) in fanout.take_reach().items()})


async def test_live_resets_and_replays_are_counted_exactly(fanout: Fanout) -> None:
    shared_a = frozenset({"a"})
    # Runs of subscribers sharing a filter object, others with their own equal sets,
    # several channels and every channel: every kind of run the hot loop sees.
    subs = [Recorder(shared_a) for _ in range(5)]
    subs += [Recorder(frozenset({"a"})) for _ in range(2)]
    subs += [Recorder(frozenset({"b"})) for _ in range(3)]
    subs += [Recorder(frozenset({"a", "b"})), Recorder(None), Recorder(None)]
    for sub in subs:
        assert fanout.subscribe(sub, None) is None
    await fanout.apply([entry(3, "publish", "a"), entry(4, "publish", "b")])
    # A backlog of several events, with one correction and one retraction among them.
    await fanout.apply(
        [
            entry(5, "publish", "a"),
            entry(6, "update", "a", item=f"{BASE_MS}-3"),
            entry(7, "publish", "b"),
            entry(8, "retract", "b", item=f"{BASE_MS}-4"),
        ]
    )
    late = [Recorder(shared_a), Recorder(None)]  # their resets carry the live items
    for sub in late:
        fanout.subscribe(sub, None)
    resumed = Recorder(frozenset({"a", "b"}))  # missed 5 and 7: replayed from the ring
    assert fanout.subscribe(resumed, parse_event_id(f"{BASE_MS}-4")) is None
    await fanout.apply([entry(9, "publish", "a")])
    everyone = [*subs, *late, resumed]
    want = expected(everyone)
    assert want[("a", f"{BASE_MS}-9")] == 5 + 2 + 1 + 2 + 1 + 1 + 1  # every a-reader once
    assert want[("b", f"{BASE_MS}-4")] == 3 + 1 + 2  # retracted before the late ones came
    assert counted(fanout) == want
    assert counted(fanout) == Counter()  # taken: the next beat starts from nothing


async def test_counts_not_written_go_with_the_next_beat(fanout: Fanout) -> None:
    sub = Recorder(None)
    fanout.subscribe(sub, None)
    await fanout.apply([entry(3, "publish", "a")])
    taken = fanout.take_reach()
    assert taken == {("a", f"{BASE_MS}-3"): (1, taken[("a", f"{BASE_MS}-3")][1])}
    assert taken[("a", f"{BASE_MS}-3")][1] == 4070908800000  # the item's expiry, in ms
    fanout.give_back_reach(taken)
    await fanout.apply([entry(4, "publish", "a")])
    assert counted(fanout) == {("a", f"{BASE_MS}-3"): 1, ("a", f"{BASE_MS}-4"): 1}


async def test_subscriber_counts_per_filter(fanout: Fanout) -> None:
    for channels in ({"a"}, {"a"}, {"a", "b"}, None):
        fanout.subscribe(Recorder(frozenset(channels) if channels else None), None)
    assert fanout.subscriber_counts() == {"*": 1, "a": 3, "b": 1}
    assert fanout.subscriber_count == 4
