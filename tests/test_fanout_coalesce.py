"""A backlog of log entries goes out coalesced: fewer writes per subscriber, and still
exactly the events each one must see, in order, once. Events read during a long
fan-out join it.

The fan-out is driven directly with log entries (as its reader hands them over after
one XREAD), so the backlog is exact; the end-to-end path is covered by
tests/test_fanout_many.py and the resume property.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.support import RedisServer
from ticker.broker import RedisBroker
from ticker.config import Settings
from ticker.fanout import COALESCE_BYTES, Fanout, Subscriber
from ticker.frames import Frame
from ticker.store import LogEntry, open_store

BASE_MS = int(time.time() * 1000)  # ids far in the future would be refused


class Recorder(Subscriber):
    """Keeps every write it is given, as bytes."""

    __slots__ = ("writes",)

    def __init__(self, channels: frozenset[str] | None) -> None:
        super().__init__(channels)
        self.writes: list[bytes] = []

    def write(self, frame: Frame) -> None:
        self.writes.append(frame.raw)

    def write_many(self, frames: list[Frame]) -> None:
        self.writes.append(b"".join(frame.raw for frame in frames))

    def events(self) -> list[tuple[str, str]]:
        """(id, type) of every event received after the first write (the resets)."""
        data = b"".join(self.writes[1:]).decode()
        return re.findall(r"^id: (\S+)\nevent: (\S+)$", data, re.M)


def entry(seq: int, type_: str, channel: str, text: str = "") -> LogEntry:
    data = json.dumps({"id": channel, "title": channel}) if type_ == "channel" else "{}"
    if type_ == "publish":
        data = json.dumps({"text": text, "priority": "normal"}, ensure_ascii=False)
    return LogEntry(id=f"{BASE_MS}-{seq}", type=type_, channel=channel, item="", data=data)


def seq_of(e: LogEntry) -> int:
    return int(e.id.split("-")[1])


@pytest.fixture
async def fanout(redis_server: RedisServer) -> AsyncIterator[Fanout]:
    settings = Settings.from_env(
        {
            "REDIS_URL": redis_server.url,
            "TICKER_DELIVERY_SLICE": "3",
            "TICKER_KEY_PREFIX": f"coalesce-{uuid.uuid4().hex[:8]}:",  # a log of its own
        }
    )
    redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    # Never started: the test hands it the entries its reader would have read. A long
    # pass still reads ahead from the (empty) log, as it does when running.
    fanout = Fanout(RedisBroker(open_store(redis, settings), redis), settings)
    await fanout.apply([entry(1, "channel", "a"), entry(2, "channel", "b")])
    yield fanout
    await fanout.stop()


async def test_a_backlog_goes_out_in_few_writes_and_exactly(fanout: Fanout) -> None:
    only_a, both = Recorder(frozenset({"a"})), Recorder(frozenset({"a", "b"}))
    everything = Recorder(None)
    late = Recorder(None)  # resumes from an id this process has not read yet
    for sub in (only_a, both, everything):
        assert fanout.subscribe(sub, None) is None
    assert fanout.subscribe(late, (BASE_MS, 50)) is None
    late.writes.append(b"")  # it got no resets: keep events() uniform

    text = "عاجل: " + "خبر " * 100  # ~600 bytes a frame
    backlog = [entry(seq, "publish", "ab"[seq % 2], f"{text}{seq}") for seq in range(10, 110)]
    backlog.append(entry(110, "retract", "a"))
    await fanout.apply(backlog)

    every_id = [(e.id, e.type) for e in backlog]
    assert everything.events() == every_id
    assert both.events() == every_id
    assert only_a.events() == [(e.id, e.type) for e in backlog if e.channel == "a"]
    assert late.events() == [(e.id, e.type) for e in backlog if seq_of(e) > 50]
    # ~60 KB of frames: a handful of writes each, not one per event.
    total = sum(len(w) for w in everything.writes[1:])
    assert total > 3 * COALESCE_BYTES
    assert len(everything.writes) - 1 <= total // COALESCE_BYTES + 1
    assert len(only_a.writes) - 1 <= len(everything.writes) - 1


async def test_without_a_backlog_each_event_is_one_write(fanout: Fanout) -> None:
    sub = Recorder(frozenset({"b"}))
    fanout.subscribe(sub, None)
    for seq in range(10, 15):
        await fanout.apply([entry(seq, "publish", "b", f"خبر {seq}")])
    await fanout.apply([entry(15, "publish", "a", "ليس لهذه القناة")])
    assert len(sub.writes) == 1 + 5
    assert [i for i, _ in sub.events()] == [f"{BASE_MS}-{seq}" for seq in range(10, 15)]


async def test_replayed_entries_are_not_sent_twice(fanout: Fanout) -> None:
    sub = Recorder(None)
    fanout.subscribe(sub, None)
    first = [entry(seq, "publish", "a", f"خبر {seq}") for seq in range(10, 13)]
    await fanout.apply(first)
    await fanout.apply([*first, entry(13, "publish", "b", "جديد")])  # a re-issued read
    assert [i for i, _ in sub.events()] == [f"{BASE_MS}-{seq}" for seq in range(10, 14)]


async def test_events_read_during_a_long_fan_out_join_it(fanout: Fanout) -> None:
    """Items that reach the log while a pass is under way go out with it to the
    subscribers it has not reached yet; a second pass serves the ones it had passed."""
    subs = [Recorder(None if n % 3 == 0 else frozenset({"ab"[n % 2]})) for n in range(1500)]
    for sub in subs:
        fanout.subscribe(sub, None)
    # Items 11-15 are in the log (as their publish scripts left them) when the pass
    # for item 10 starts: the read it issues at its first yield brings them.
    broker = fanout.broker
    assert isinstance(broker, RedisBroker)
    for seq in range(11, 16):
        e = entry(seq, "publish", "ab"[seq % 2], f"لاحق {seq}")
        fields = {"type": e.type, "channel": e.channel, "data": e.data}
        await broker.reader.xadd(broker.store.keys.log, fields, id=e.id)
    await fanout.apply([entry(10, "publish", "a", "أول")])

    channel_of = {f"{BASE_MS}-{seq}": "a" if seq == 10 else "ab"[seq % 2] for seq in range(10, 16)}
    one_write = 0
    for n, sub in enumerate(subs):
        wanted = [(i, "publish") for i, c in channel_of.items() if sub.channels in (None, {c})]
        assert sub.events() == wanted, n
        assert len(sub.writes) - 1 <= 2, n  # a pass or two, not a write per item
        one_write += len(sub.writes) - 1 == 1 and len(wanted) > 1
    assert one_write > 0, "no subscriber got the later items with the first one"
