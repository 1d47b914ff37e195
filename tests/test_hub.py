"""The fan-out on the in-memory broker: delivery, coalescing, cursors, resumes, epochs,
expiry and reach, with no Redis, each test in milliseconds.

A `MemoryBroker` (ticker/broker/memory.py) holds the log and answers as Redis would;
recording subscribers keep every write. The same paths on Redis stay covered by
tests/test_reach_counting.py, test_epoch.py, test_redis_restart.py and the stream
tests.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ticker.broker import BrokerError
from ticker.broker.memory import EXPIRES_AT, MemoryBroker
from ticker.config import Settings
from ticker.fanout import COALESCE_BYTES, Fanout, StartupError, Subscriber
from ticker.frames import Frame
from ticker.model import format_event_id, parse_event_id, parse_rfc3339
from ticker.store import LogEntry, LogRange, dumps

BLOCK = 0.02  # the memory broker's block time: a quiet log is looked at again this soon


class Recorder(Subscriber):
    """Keeps every write it is given, as bytes, and counts its pings."""

    __slots__ = ("farewell_ms", "pings", "writes")

    def __init__(self, channels: frozenset[str] | None = None) -> None:
        super().__init__(channels)
        self.writes: list[bytes] = []
        self.pings = 0
        self.farewell_ms: int | None = None

    def close(self, retry_ms: int) -> None:
        self.farewell_ms = retry_ms

    def write(self, frame: Frame) -> None:
        self.writes.append(frame.raw)

    def write_many(self, frames: list[Frame]) -> None:
        self.writes.append(b"".join(frame.raw for frame in frames))

    def ping(self) -> None:
        self.pings += 1

    def events(self) -> list[tuple[str, str]]:
        """(type, id) of every event it received, resets included."""
        data = b"".join(self.writes).decode()
        return [(t, i) for i, t in re.findall(r"^id: (\S+)\nevent: (\S+)$", data, re.M)]

    def sent(self) -> list[tuple[str, str]]:
        """(type, id) of every event but the resets."""
        return [(t, i) for t, i in self.events() if t != "reset"]

    def resets(self) -> list[dict[str, Any]]:
        data = b"".join(self.writes).decode()
        return [json.loads(d) for d in re.findall(r"^event: reset\ndata: (.*)$", data, re.M)]


class Broken(Recorder):
    def write(self, frame: Frame) -> None:
        raise ConnectionResetError("the client went away")


class GatedBroker(MemoryBroker):
    """Its history reads wait for `gate`: a resume from the log, caught half-way."""

    def __init__(self) -> None:
        super().__init__(block_seconds=BLOCK)
        self.gate = asyncio.Event()

    async def history(self, after: str, upto: str, limit: int) -> LogRange:
        await self.gate.wait()
        return await super().history(after, upto, limit)


def only(*channels: str) -> frozenset[str]:
    return frozenset(channels)


def published(entries: list[LogEntry], channels: frozenset[str] | None = None) -> list[Any]:
    return [(e.type, e.id) for e in entries if channels is None or e.channel in channels]


async def until(check: Callable[[], object], what: str, seconds: float = 5.0) -> None:
    """Let the reader run until `check()` holds (it usually does within a few yields)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        assert loop.time() < deadline, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.001)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"ring_size": 5, "delivery_slice": 3, "replay_max": 10}
    return Settings.from_env({}, **{**values, **overrides})


async def started(broker: MemoryBroker, **overrides: Any) -> Fanout:
    fanout = Fanout(broker, settings(**overrides))
    fanout.start()
    await fanout.wait_ready(2)
    return fanout


@pytest.fixture
def broker() -> MemoryBroker:
    broker = MemoryBroker(block_seconds=BLOCK)
    broker.save_channel("a")
    broker.save_channel("b")
    return broker


@pytest.fixture
async def fanout(broker: MemoryBroker) -> AsyncIterator[Fanout]:
    fanout = await started(broker)
    yield fanout
    await fanout.stop()


async def delivered(fanout: Fanout, entry: LogEntry) -> None:
    """Until the reader has read `entry` and its pass is over."""
    await until(
        lambda: fanout.head >= parse_event_id(entry.id) and not fanout.hub.undelivered,
        f"{entry.id} delivered",
    )


# Delivery


async def test_each_subscriber_gets_its_channels_events_once_and_in_order(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    subs = {"a": Recorder(only("a")), "b": Recorder(only("b")), "ab": Recorder(only("a", "b"))}
    subs["*"] = Recorder(None)
    for sub in subs.values():
        assert fanout.subscribe(sub, None) is None
    assert [len(sub.writes) for sub in subs.values()] == [1, 1, 1, 1]  # the resets, at once
    assert subs["ab"].events() == [("reset", fanout.head_id)] * 2

    entries = []
    for n, channel in enumerate("abab"):
        entries.append(broker.publish(channel, f"خبر {n}"))
        await delivered(fanout, entries[-1])
        # One event, one write, the same bytes for everyone: encoded once.
        (first, *others) = [sub.writes[-1] for sub in (subs[channel], subs["ab"], subs["*"])]
        assert all(other is first for other in others)
    assert subs["a"].sent() == published(entries, only("a"))
    assert subs["b"].sent() == published(entries, only("b"))
    assert subs["ab"].sent() == subs["*"].sent() == published(entries)
    assert [len(sub.writes) for sub in subs.values()] == [1 + 2, 1 + 2, 1 + 4, 1 + 4]


async def test_a_backlog_goes_out_in_few_writes_and_exactly(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    everything, only_b = Recorder(None), Recorder(only("b"))
    fanout.subscribe(everything, None)
    fanout.subscribe(only_b, None)
    text = "عاجل: " + "خبر " * 100  # ~600 bytes a frame
    backlog = [broker.publish("ab"[n % 2], f"{text}{n}") for n in range(100)]  # one read
    await delivered(fanout, backlog[-1])
    assert everything.sent() == published(backlog)
    assert only_b.sent() == published(backlog, only("b"))
    total = sum(len(w) for w in everything.writes[1:])
    assert total > 3 * COALESCE_BYTES
    assert len(everything.writes) - 1 <= total // COALESCE_BYTES + 1
    assert len(only_b.writes) - 1 <= len(everything.writes) - 1


async def test_events_read_during_a_long_pass_join_it(broker: MemoryBroker) -> None:
    """Never started: the test hands it the first entry as its reader would, and the
    read the pass issues at its first yield brings the entries logged meanwhile."""
    fanout = Fanout(broker, settings())
    await fanout.apply(broker.entries)  # the channels, and the epoch it has not loaded
    subs = [Recorder(None if n % 3 == 0 else only("ab"[n % 2])) for n in range(1500)]
    for sub in subs:
        fanout.subscribe(sub, None)
    first = broker.publish("a", "أول")
    later = [broker.publish("ab"[n % 2], f"لاحق {n}") for n in range(5)]
    await fanout.apply([first])
    assert broker.reads >= 1
    one_write = 0
    for n, sub in enumerate(subs):
        assert sub.sent() == published([first, *later], sub.channels), n
        assert len(sub.writes) - 1 <= 2, n  # a pass or two, not a write per item
        one_write += len(sub.writes) - 1 == 1 and len(sub.sent()) > 1
    assert one_write > 0, "no subscriber got the later items with the first one"
    await fanout.stop()


async def test_a_re_read_entry_is_not_sent_twice(fanout: Fanout, broker: MemoryBroker) -> None:
    sub = Recorder(None)
    fanout.subscribe(sub, None)
    entries = [broker.publish("a", f"خبر {n}") for n in range(3)]
    await delivered(fanout, entries[-1])
    await fanout.apply(entries)  # a re-issued read brings them again
    assert sub.sent() == published(entries)


async def test_a_failing_subscriber_is_dropped_and_the_others_still_served(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    subs = [Recorder(only("a")) for _ in range(4)]
    broken = Broken(only("a"))
    for sub in [*subs[:2], broken, *subs[2:]]:
        fanout.subscribe(sub, None)
    assert fanout.subscriber_count == 5
    entry = broker.publish("a", "خبر")
    await delivered(fanout, entry)
    assert all(sub.sent() == [("publish", entry.id)] for sub in subs)
    assert broken.dropped and broken.ended == "error"
    assert fanout.subscriber_count == 4 and broken not in fanout.subscribers()


# Cursors


async def test_a_subscriber_ahead_of_this_process_skips_what_it_has(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    ms, _ = parse_event_id(broker.head)
    ids = [f"{ms + 1}-{seq}" for seq in range(3)]
    ahead = Recorder(only("a"))
    # Another process had sent it the first two already: it resumes from there.
    assert fanout.subscribe(ahead, parse_event_id(ids[1])) is None
    assert ahead.writes == []
    entries = [broker.publish("a", f"خبر {n}", at=i) for n, i in enumerate(ids)]
    await delivered(fanout, entries[-1])
    assert ahead.events() == [("publish", ids[2])]


async def test_an_id_far_in_the_future_gets_a_reset(fanout: Fanout) -> None:
    sub = Recorder(only("a"))
    ms, _ = parse_event_id(fanout.head_id)
    assert fanout.subscribe(sub, (ms + 3_600_000, 0)) is None
    assert sub.events() == [("reset", fanout.head_id)]


# Resumes


async def test_a_resume_inside_the_ring_is_served_from_memory(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    entries = [broker.publish("ab"[n % 2], f"خبر {n}") for n in range(5)]  # the ring's 5
    await delivered(fanout, entries[-1])
    sub = Recorder(only("a"))
    assert fanout.subscribe(sub, parse_event_id(entries[0].id)) is None
    assert sub.events() == published(entries[1:], only("a"))
    assert len(sub.writes) == 1 and broker.histories == []
    quiet = Recorder(only("b"))  # nothing new for it: nothing written
    assert fanout.subscribe(quiet, parse_event_id(entries[-1].id)) is None
    assert quiet.writes == []


async def test_a_resume_older_than_the_ring_reads_the_brokers_history(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    entries = [broker.publish("ab"[n % 2], f"خبر {n}") for n in range(8)]
    await delivered(fanout, entries[-1])
    sub = Recorder(only("a", "b"))
    resuming = fanout.subscribe(sub, parse_event_id(entries[0].id))
    assert resuming is not None
    await resuming
    assert sub.events() == published(entries[1:])
    assert len(broker.histories) == 1 and broker.histories[0].complete
    later = broker.publish("b", "لاحق")
    await delivered(fanout, later)
    assert sub.events()[-1] == ("publish", later.id)


async def test_live_events_wait_behind_a_resume_from_history() -> None:
    broker = GatedBroker()
    broker.save_channel("a")
    fanout = await started(broker)
    entries = [broker.publish("a", f"خبر {n}") for n in range(8)]
    await delivered(fanout, entries[-1])
    sub = Recorder(only("a"))
    resuming = fanout.subscribe(sub, parse_event_id(entries[0].id))
    assert resuming is not None
    task = asyncio.create_task(resuming)
    await until(lambda: sub.held is not None, "the resume registered, held back")
    live = broker.publish("a", "مباشر")
    await delivered(fanout, live)
    assert sub.writes == []  # held behind the replay
    broker.gate.set()
    await task
    assert sub.events() == published([*entries[1:], live])
    assert len(sub.writes) == 1  # replay and held frames in one write
    await fanout.stop()


async def test_a_capped_history_resets_the_busy_channel_only(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    """Ring of 5, replays of at most 10 entries: from 30 events back, the quiet channel
    is replayed exactly and the busy one gets a reset instead of a longer read."""
    start = broker.publish("b", "بداية")
    quiet = [broker.publish("b", f"هادئ {n}") for n in range(2)]
    busy = [broker.publish("a", f"مزدحم {n}") for n in range(30)]
    await delivered(fanout, busy[-1])
    sub = Recorder(only("a", "b"))
    resuming = fanout.subscribe(sub, parse_event_id(start.id))
    assert resuming is not None
    await resuming
    assert [len(h.entries) for h in broker.histories] == [10]
    assert not broker.histories[0].complete
    assert sub.events() == [("reset", busy[-1].id), *published(quiet)]
    (reset,) = sub.resets()
    assert reset["channel"] == "a" and len(reset["items"]) == 30


async def test_a_resume_from_before_the_trim_horizon_resets_what_changed(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    early_b = broker.publish("b", "قديم")
    entries = [broker.publish("a", f"خبر {n}") for n in range(8)]
    await delivered(fanout, entries[-1])
    broker.trim(entries[2].id)  # what came after entries[0] is partly gone
    sub = Recorder(only("a", "b"))
    resuming = fanout.subscribe(sub, parse_event_id(entries[0].id))
    assert resuming is not None
    await resuming
    # a changed after the id and lost entries: a reset; b had nothing new: nothing.
    assert sub.events() == [("reset", entries[-1].id)]
    assert early_b.id in {i["id"] for i in fanout.snapshot("b")["items"]}


async def test_a_history_that_cannot_be_read_sends_resets(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    entries = [broker.publish("a", f"خبر {n}") for n in range(8)]
    await delivered(fanout, entries[-1])
    sub = Recorder(only("a"))
    resuming = fanout.subscribe(sub, parse_event_id(entries[0].id))
    assert resuming is not None
    broker.down = True
    await resuming
    assert sub.events() == [("reset", entries[-1].id)]
    broker.down = False


async def test_a_resume_when_no_wanted_channel_changed_reads_nothing(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    mine = broker.publish("b", "لي")
    others = [broker.publish("a", f"خبر {n}") for n in range(8)]
    await delivered(fanout, others[-1])
    sub = Recorder(only("b"))
    resuming = fanout.subscribe(sub, parse_event_id(mine.id))
    assert resuming is not None
    await resuming
    assert sub.writes == [] and broker.histories == []


# Epochs and lost data


async def test_an_epoch_begun_elsewhere_resets_everyone(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    before = broker.publish("a", "قبل")
    await delivered(fanout, before)
    subs = [Recorder(only("a")), Recorder(None)]
    for sub in subs:
        fanout.subscribe(sub, None)
    old_epoch = fanout.epoch
    opened = broker.begin_epoch()
    await until(lambda: fanout.epoch == broker.epoch != old_epoch, "the new epoch loaded")
    assert fanout.since == parse_event_id(opened.id) == parse_event_id(broker.since)
    assert subs[0].events() == [("reset", before.id), ("reset", opened.id)]
    assert subs[1].events()[-2:] == [("reset", opened.id)] * 2  # one per channel
    # An id from before the epoch is unknown: a reset, never a silent resume.
    returning = Recorder(only("a"))
    assert fanout.subscribe(returning, parse_event_id(before.id)) is None
    assert returning.events() == [("reset", opened.id)]


async def test_a_log_that_lost_everything_begins_a_new_epoch(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    entry = broker.publish("a", "خبر")
    await delivered(fanout, entry)
    sub = Recorder(only("a"))
    fanout.subscribe(sub, None)
    old_epoch = fanout.epoch
    broker.lose_everything()  # the reader finds it at its next quiet look
    await until(lambda: fanout.epoch == broker.epoch != old_epoch, "the new epoch loaded")
    assert fanout.channels == {} and fanout.items == {}
    assert fanout.since > parse_event_id(entry.id)  # above every id handed out before
    (_, reset) = sub.resets()
    assert reset == {"channel": "a", "last_event_id": "0-0", "items": []}
    returning = Recorder(only("a"))
    fanout.subscribe(returning, parse_event_id(entry.id))
    assert [t for t, _ in returning.events()] == ["reset"]


async def test_a_log_behind_this_process_begins_a_new_epoch(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    """A failover to a replica that missed the newest entries: the entry this process
    read last is neither in the log nor trimmed away."""
    kept, lost = broker.publish("a", "باق"), broker.publish("a", "ضائع")
    await delivered(fanout, lost)
    sub = Recorder(only("a"))
    fanout.subscribe(sub, None)
    old_epoch = fanout.epoch
    broker.lose_after(kept.id)
    await until(lambda: fanout.epoch == broker.epoch != old_epoch, "the new epoch loaded")
    assert fanout.since > parse_event_id(lost.id)
    assert [t for t, _ in sub.events()] == ["reset", "reset"]


async def test_while_the_broker_is_down_streams_go_on_from_memory(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    first = broker.publish("a", "أول")
    await delivered(fanout, first)
    sub = Recorder(only("a"))
    fanout.subscribe(sub, None)
    broker.down = True
    broker.wake()  # the blocked read fails now, as a dropped connection would
    await until(lambda: not fanout.following, "the reader noticed")
    assert fanout.serving and "memory broker is down" in fanout.last_error
    meanwhile = Recorder(only("a"))
    assert fanout.subscribe(meanwhile, None) is None  # from memory
    assert meanwhile.events() == [("reset", first.id)]
    broker.down = False
    await until(lambda: fanout.following, "the reader is back")
    later = broker.publish("a", "لاحق")
    await delivered(fanout, later)
    # The same epoch: no reset, only what came next.
    assert sub.events() == [("reset", first.id), ("publish", later.id)]
    assert meanwhile.sent() == [("publish", later.id)]


async def test_startup_fails_in_time_with_the_brokers_error(broker: MemoryBroker) -> None:
    broker.down = True
    fanout = Fanout(broker, settings())
    fanout.start()
    with pytest.raises(StartupError, match="memory broker is down"):
        await fanout.wait_ready(0.2)
    assert not fanout.serving
    await fanout.stop()


async def test_the_memory_broker_raises_broker_errors_while_down(broker: MemoryBroker) -> None:
    broker.down = True
    for call in (broker.load(1), broker.read("0-0"), broker.check_epoch("", "0-0")):
        with pytest.raises(BrokerError):
            await call


# Expiry and reach


async def test_an_expired_item_leaves_the_state_and_its_subscribers_hear_it(
    fanout: Fanout, broker: MemoryBroker
) -> None:
    old, new = broker.publish("a", "قديم"), broker.publish("a", "جديد")
    await delivered(fanout, new)
    sub = Recorder(only("a"))
    fanout.subscribe(sub, None)
    gone = broker.expire("a", old.id)
    await delivered(fanout, gone)
    assert sub.sent() == [("expire", gone.id)]
    assert set(fanout.items["a"]) == {new.id}
    later = Recorder(only("a"))
    fanout.subscribe(later, None)
    assert [i["id"] for i in later.resets()[0]["items"]] == [new.id]


async def test_reach_counts_what_each_stream_received(fanout: Fanout, broker: MemoryBroker) -> None:
    """Live deliveries, items carried by resets, and replays, against what each
    subscriber actually got; items gone by the time the counts are taken expire now."""
    carried = broker.publish("a", "في اللقطة")
    await delivered(fanout, carried)
    subs = [Recorder(only("a")), Recorder(only("b")), Recorder(None), Recorder(only("a", "b"))]
    for sub in subs:
        fanout.subscribe(sub, None)  # resets: `carried` reaches 3 of them
    live = [broker.publish("ab"[n % 2], f"خبر {n}") for n in range(4)]
    await delivered(fanout, live[-1])
    replayed = Recorder(only("b"))
    fanout.subscribe(replayed, parse_event_id(live[0].id))  # from the ring: live[1], live[3]
    retracted = broker.retract("a", live[0].id)
    await delivered(fanout, retracted)

    expected: Counter[tuple[str, str]] = Counter()
    for sub in [*subs, replayed]:
        for reset in sub.resets():
            expected.update((reset["channel"], item["id"]) for item in reset["items"])
        data = b"".join(sub.writes).decode()
        for body in re.findall(r"^event: publish\ndata: (.*)$", data, re.M):
            item = json.loads(body)
            expected[(item["channel"], item["id"])] += 1
    reach = fanout.take_reach()
    assert {key: n for key, (n, _) in reach.items()} == dict(expected)
    assert reach[("a", carried.id)][0] == 3
    expires_ms = int(parse_rfc3339(EXPIRES_AT).timestamp() * 1000)
    assert reach[("b", live[1].id)][1] == expires_ms
    assert reach[("a", live[0].id)][1] < expires_ms  # retracted: expires now
    assert fanout.take_reach() == {}
    fanout.give_back_reach(reach)  # a failed write: they go with the next counts
    assert fanout.take_reach().keys() == reach.keys()


async def test_subscriber_counts_per_channel_filter(fanout: Fanout) -> None:
    subs = [Recorder(only("a")), Recorder(only("a", "b")), Recorder(None)]
    for sub in subs:
        fanout.subscribe(sub, None)
    assert fanout.subscriber_counts() == {"*": 1, "a": 2, "b": 1}
    assert fanout.subscriber_count == 3
    for sub in subs:
        fanout.unsubscribe(sub)
        fanout.unsubscribe(sub)  # twice: counted once
    assert fanout.subscriber_counts() == {} and fanout.subscriber_count == 0


async def test_pings_go_to_the_streams_of_quiet_channels(broker: MemoryBroker) -> None:
    fanout = await started(broker, ping_seconds=0.01)
    quiet, busy, everything = Recorder(only("b")), Recorder(only("a")), Recorder(None)
    for sub in (quiet, busy, everything):
        fanout.subscribe(sub, None)
    # Channel a "just had an event" at every round (a monotonic time ahead of them all).
    fanout.state.event_at["a"] = time.monotonic() + 3600
    await until(lambda: quiet.pings >= 2, "two ping rounds")
    assert busy.pings == 0 and everything.pings == 0
    await fanout.stop()


async def test_stopping_asks_each_client_back_after_a_delay_of_its_own(
    broker: MemoryBroker,
) -> None:
    fanout = await started(broker, retry_ms=2000)
    subs = [Recorder(only("a")) for _ in range(20)]
    for sub in subs:
        fanout.subscribe(sub, None)
    await fanout.stop()
    delays = [sub.farewell_ms for sub in subs]
    assert all(d is not None and 2000 <= d <= 10_000 for d in delays), delays
    assert len(set(delays)) > 1, f"every stream got the same delay: {delays}"


def test_the_memory_broker_numbers_entries_as_redis_does() -> None:
    broker = MemoryBroker()
    first, second = broker.publish("a", "١"), broker.publish("a", "٢")
    assert parse_event_id(second.id) > parse_event_id(first.id)
    assert first.item == first.id  # a publish's item id is its event id
    with pytest.raises(ValueError):
        broker.add("publish", "a", dumps({}), at=first.id)
    assert broker.head == second.id == format_event_id(broker.generated)
