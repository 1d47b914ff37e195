"""The one stream reader per process, the ring of recent events, and every subscriber.

One task reads the Redis log with `XREAD BLOCK` from an explicit last id (never
`$`, docs/design.md, "Traps"), applies each event to an in-memory copy of the live state,
encodes its frame once, appends it to a ring and pushes the same bytes into the
bounded buffer of every matching subscriber. Connects and resumes are served
from that memory (docs/design.md, invariant 3); only a resume older than the ring
reads Redis. A subscriber whose buffer fills is dropped: it comes back with its
Last-Event-ID and loses nothing (invariant 4).

The log has an epoch (docs/api.md, "Epochs"): a run of it that no data loss has
broken. The reader checks it each time it reconnects, and an `epoch` entry in the
log tells it when another process began a new one; either way it reloads the state
and sends every subscriber a `reset`. Ids older than the epoch's first entry are
unknown: resuming from one gets a `reset`, never a silent resume. None of this is on
the delivery path (`_deliver`).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ticker import metrics
from ticker.config import Settings
from ticker.frames import Frame, event_frame, farewell_retry_ms, frame_of
from ticker.model import Channel, EventId, format_event_id, parse_event_id, parse_rfc3339
from ticker.store import LoadedState, LogEntry, Store, dumps

log = logging.getLogger("ticker.fanout")

PUBLIC_TYPES = frozenset({"publish", "update", "retract", "expire"})
RESET_ITEMS = 100  # the most items a reset snapshot carries (the API's largest limit)
BLOCK_MS = 5000
FUTURE_TOLERANCE_MS = 60_000  # an id further ahead than this is bogus: answer with a reset
COALESCE_BYTES = 16 * 1024  # most bytes of a backlog's frames sent to a subscriber in one write
MAX_BACKOFF = 1.0  # seconds between the reader's reconnects: a loss is found within ~1 s

redis_up = Gauge(
    "ticker_redis_up",
    "1 while this process's stream reader is connected to Redis (and /healthz/redis "
    "answers), 0 while it is not; streams are still served from memory meanwhile.",
    multiprocess_mode="livemin",
)

reloads = Counter(
    "ticker_stream_reloads_total",
    "Reloads of the stream state that reset every subscriber, by reason: `behind` and "
    "`missing` (this process found that Redis lost data and began a new epoch), "
    "`changed` and `epoch-entry` (another process did), `error` (a failure here).",
    ["reason"],
)


class Subscriber:
    """One connected stream: its channel filter, and where its frames go.

    Subclasses say how frames are written (`write`) and how a subscriber that fell
    too far behind is let go (`drop`). While a resume is read from Redis, frames
    are held back (`held`) so that the replay goes out first.
    """

    __slots__ = ("channels", "dropped", "ended", "held", "seen")
    direct = False  # written to directly by the fan-out (StreamConnection)

    def __init__(self, channels: frozenset[str] | None) -> None:
        self.channels = channels  # None: every channel
        self.dropped = False
        self.held: list[Frame] | None = None
        # It has every event up to this id (sent, or in its reset or replay): the
        # fan-out sends it only what is newer. Set when it subscribes.
        self.seen: EventId = (0, 0)
        self.ended: str | None = None  # why the stream ended (a disconnect reason), once it has

    def push(self, frame: Frame) -> None:
        if self.held is not None:
            self.held.append(frame)
        elif not self.dropped:
            try:
                self.write(frame)
            except Exception:
                self.fail()
                raise  # the fan-out logs it and unsubscribes this one

    def release(self, first: list[Frame]) -> None:
        """Send `first`, then what was held back meanwhile, and go live."""
        held, self.held = self.held or [], None
        if not self.dropped and (first or held):
            self.write_many([*first, *held])

    def write(self, frame: Frame) -> None:
        raise NotImplementedError

    def write_many(self, frames: list[Frame]) -> None:
        raise NotImplementedError

    def ping(self) -> None:
        """Keep an idle connection open through proxies (subclasses that need it)."""

    def close(self, retry_ms: int) -> None:
        """End the stream, asking the client to come back after `retry_ms` (on shutdown)."""

    def fail(self) -> None:
        """Writing to it raised: end the stream, so that its client reconnects."""
        self.dropped = True
        self.end("error")

    def end(self, reason: str) -> None:
        """Count the stream's end, once: the first reason given is the one that holds."""
        if self.ended is None:
            self.ended = reason
            metrics.child(metrics.stream_disconnects, reason).inc()


class StartupError(RuntimeError):
    """The fan-out could not load its first state from Redis in time."""


class EpochChanged(Exception):
    """The log began a new epoch (an `epoch` entry of another id was read)."""


Event = tuple[EventId, str, Frame]  # (id, channel, frame) of one public event


class Fanout:
    def __init__(self, store: Store, reader: Redis, settings: Settings) -> None:
        self.store = store
        self.reader = reader
        self.settings = settings
        self.ring_size = settings.ring_size
        self.ready = asyncio.Event()
        self.channels: dict[str, Channel] = {}
        self.items: dict[str, dict[str, dict[str, Any]]] = {}
        self.last: dict[str, str] = {}
        self.head: EventId = (0, 0)
        self.head_id = "0-0"
        # The log's epoch, and the id of its first entry: any id below it is unknown.
        self.epoch = ""
        self.since: EventId = (0, 0)
        self.following = False  # the reader is connected to Redis and reading on
        self.last_error = ""  # why the reader last lost Redis (for startup errors)
        self._stale_epoch = False  # an `epoch` entry of another epoch was read
        # The ring covers every public event with an id above `floor`.
        self.floor: EventId = (0, 0)
        self._ring_ids: list[EventId] = []
        self._ring: list[tuple[str, Frame]] = []
        self._ring_start = 0
        self._reset_cache: dict[str, tuple[EventId, Frame]] = {}
        self._by_channel: dict[str, set[Subscriber]] = {}
        self._everything: set[Subscriber] = set()
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._resumes: set[asyncio.Task[None]] = set()
        self._channel_event_at: dict[str, float] = {}  # monotonic time of each channel's last event
        # Events applied to the state that some subscriber may still need (oldest first).
        self._undelivered: list[Event] = []
        self._reading: asyncio.Future[Any] | None = None  # the next XREAD, once issued
        # Reach: streams each item went out to since the heartbeat last took
        # the counts, and resets sent per channel since its items last changed (folded
        # into per-item counts then, so a connect costs one addition per channel).
        self._reach: dict[tuple[str, str], int] = {}
        self._resets_pending: dict[str, int] = {}

    # Life cycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ticker-fanout")
        self._pinger = asyncio.create_task(self._ping_forever(), name="ticker-ping")

    async def wait_ready(self, seconds: float) -> None:
        """Until the first state is loaded; StartupError after `seconds` (a
        stream answered before that got a 503, and EventSource gives up on a 503)."""
        try:
            async with asyncio.timeout(seconds):
                await self.ready.wait()
        except TimeoutError:
            why = self.last_error or "no answer"
            raise StartupError(
                f"The stream could not load its state from Redis within {seconds:g} s "
                f"({why}). Check that Redis is running and that REDIS_URL points to it; "
                "TICKER_STARTUP_TIMEOUT sets how long to wait."
            ) from None

    @property
    def serving(self) -> bool:
        """This process can serve streams: loaded, and its reader is running (it may be
        reconnecting to Redis: open streams go on from memory meanwhile)."""
        task = self._task
        return self.ready.is_set() and task is not None and not task.done()

    async def stop(self) -> None:
        self._forget_read()
        for task in (self._task, self._pinger, *self._resumes):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # Ask every client to come back after a random delay: no reconnect storm.
        for sub in self.subscribers():
            sub.close(farewell_retry_ms(self.settings.retry_ms))
        await self.reader.aclose()

    def run_soon(self, resuming: Coroutine[None, None, None]) -> None:
        """Run a resume from Redis in the background, keeping a reference to its task."""
        task = asyncio.create_task(resuming)
        self._resumes.add(task)
        task.add_done_callback(self._resumes.discard)

    def subscribers(self) -> set[Subscriber]:
        return set(self._everything).union(*self._by_channel.values())

    async def _ping_forever(self) -> None:
        """One timer for every subscriber, instead of one task per connection.

        A stream whose channels had an event in the last half interval needs no ping
        (so every stream hears something at least every 1.5 intervals, 15 s at most),
        and the round yields like a fan-out does: at 19,000 subscribers an unsliced
        round held the event loop for ~200 ms (benchmarks/RESULTS.md).
        """
        interval = self.settings.ping_seconds
        while True:
            await asyncio.sleep(interval)
            cutoff = time.monotonic() - interval / 2
            active = {c for c, at in self._channel_event_at.items() if at >= cutoff}
            slice_size = self.settings.delivery_slice
            for n, sub in enumerate(self.subscribers(), 1):
                busy = bool(active) if sub.channels is None else not sub.channels.isdisjoint(active)
                if not busy:
                    self._safely(sub, sub.ping)
                if n % slice_size == 0:
                    await asyncio.sleep(0)

    @property
    def subscriber_count(self) -> int:
        return self._count

    def subscriber_counts(self) -> dict[str, int]:
        """Open streams per channel filter, '*' for streams of every channel (a stream of
        several channels counts in each): for the heartbeat, without walking them all."""
        counts = {channel: len(group) for channel, group in self._by_channel.items()}
        if self._everything:
            counts["*"] = len(self._everything)
        return dict(sorted(counts.items()))

    # Reach

    def take_reach(self) -> dict[tuple[str, str], tuple[int, int]]:
        """The streams each item went out to since the last call, with the item's expiry
        (ms; now for an item already gone), and start counting afresh."""
        for channel in list(self._resets_pending):
            self._fold_resets(channel)
        reach, self._reach = self._reach, {}
        now_ms = int(time.time() * 1000)
        out = {}
        for (channel, item_id), n in reach.items():
            item = self.items.get(channel, {}).get(item_id)
            expires_ms = _expires_ms(item["expires_at"]) if item is not None else now_ms
            out[(channel, item_id)] = (n, max(expires_ms, now_ms))
        return out

    def give_back_reach(self, reach: dict[tuple[str, str], tuple[int, int]]) -> None:
        """Counts that could not be written: they go with the next ones."""
        for key, (n, _) in reach.items():
            self._reach[key] = self._reach.get(key, 0) + n

    def _count_resets(self, channels: list[str]) -> None:
        pending = self._resets_pending
        for channel in channels:
            pending[channel] = pending.get(channel, 0) + 1

    def _fold_resets(self, channel: str) -> None:
        """Resets sent since the channel last changed reached every item they carried."""
        n = self._resets_pending.pop(channel, 0)
        items = self.items.get(channel)
        if not n or not items:
            return
        ids: list[str] = list(items)
        if len(ids) > RESET_ITEMS:  # a reset carries the newest RESET_ITEMS only
            ids = sorted(ids, key=parse_event_id, reverse=True)[:RESET_ITEMS]
        reach = self._reach
        for item_id in ids:
            key = (channel, item_id)
            reach[key] = reach.get(key, 0) + n

    def _count_replay(self, frames: list[Frame], channels: list[str]) -> None:
        """A resume's replayed publishes reached that stream (not on the hot path)."""
        reach = self._reach
        for frame in frames:
            item_id = _published_item(frame)
            if item_id is None:
                continue
            for channel in channels:
                if item_id in self.items.get(channel, ()):
                    key = (channel, item_id)
                    reach[key] = reach.get(key, 0) + 1
                    break

    async def _run(self) -> None:
        backoff = 0.1
        reload = True  # the first load, or a resync after a failure
        reason = ""
        while True:
            try:
                if reload:
                    await self._reload(reason)
                    reload = False
                else:
                    await self._check_epoch()  # reconnected: is the log still ours?
                backoff = 0.1
                self._following(True)
                await self._follow()
            except asyncio.CancelledError:
                raise
            except EpochChanged:
                self._forget_read()
                log.warning("another process began a new epoch of the log; reloading")
                reload, reason = True, "epoch-entry"
            except (RedisError, OSError) as exc:
                self._forget_read()
                self._following(False)
                self.last_error = f"{type(exc).__name__}: {exc}"
                metrics.reader_reconnects.inc()
                metrics.redis_errors.labels("stream-reader").inc()
                log.warning("stream reader lost Redis (%s); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            except Exception:
                # A bug must not silently stop every stream of the process.
                self._forget_read()
                self._following(False)
                log.exception("stream reader failed; resyncing in %.1f s", backoff)
                reload, reason = True, "error"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _check_epoch(self) -> None:
        """Is the log still the one we read, in our epoch? If not, reload and reset
        everyone."""
        check = await self.store.check_epoch(self.epoch, self.head_id)
        if check.changed:
            log.warning(
                "the log is in a new epoch (%s: %s since %s); reloading",
                check.verdict,
                check.epoch,
                check.since,
            )
            await self._reload(check.verdict)

    def _following(self, following: bool) -> None:
        self.following = following
        redis_up.set(1 if following else 0)

    async def _reload(self, reason: str) -> None:
        """Load the state from Redis; after the first load, send everyone a `reset`."""
        self._load(await self.store.load(self.ring_size + 1))
        if not self.ready.is_set():
            self.ready.set()
            log.info(
                "fan-out ready at %s (epoch %s), %d channels",
                self.head_id,
                self.epoch,
                len(self.channels),
            )
            return
        log.warning(
            "reloaded the stream state at %s (epoch %s, %s): a reset to %d subscribers",
            self.head_id,
            self.epoch,
            reason,
            self._count,
        )
        metrics.child(reloads, reason).inc()
        self._reset_everyone()

    async def _follow(self) -> None:
        while True:
            response = await (self._reading or self._read_ahead())
            self._reading = None
            if response is None:
                # Quiet for BLOCK_MS: look again, for a loss that came without a
                # disconnect (a flushed Redis, a failover behind a proxy).
                await self._check_epoch()
                continue
            await self.apply(_entries(response))
            if self._stale_epoch:
                raise EpochChanged

    def _read_ahead(self) -> asyncio.Future[Any]:
        """Issue the next XREAD now, so that events arriving during a long fan-out
        join it (see `_deliver`) instead of waiting for it to end."""
        self._reading = asyncio.ensure_future(
            self.reader.xread({self.store.keys.log: self.head_id}, count=1000, block=BLOCK_MS)
        )
        return self._reading

    def _forget_read(self) -> None:
        reading, self._reading = self._reading, None
        if reading is not None:
            if reading.done() and not reading.cancelled():
                reading.exception()  # retrieved: it was reported where it was awaited
            reading.cancel()

    # State

    def _load(self, state: LoadedState) -> None:
        for channel in list(self._resets_pending):
            self._fold_resets(channel)  # counted against the items they carried
        self._undelivered = []
        self._stale_epoch = False
        self.epoch = state.epoch
        self.since = parse_event_id(state.since)
        self.channels = dict(state.channels)
        self.items = {
            channel: {i: {"id": i, **json.loads(raw)} for i, raw in items.items()}
            for channel, items in state.items.items()
        }
        for channel in self.channels:
            self.items.setdefault(channel, {})
        self.last = dict(state.last)
        self._reset_cache.clear()
        recent = state.recent
        if len(recent) > self.ring_size:
            # We asked for one entry more than the ring holds: it marks the floor.
            self.floor = parse_event_id(recent[0].id)
            recent = recent[1:]
        else:
            self.floor = parse_event_id(state.trimmed)
        # Nothing before the epoch can be resumed from (after a reload from a
        # Redis that came back empty, the floor was 0-0 and every old id looked covered).
        self.floor = max(self.floor, self.since)
        self._ring_ids, self._ring, self._ring_start = [], [], 0
        for entry in recent:
            if entry.type in PUBLIC_TYPES:
                self._ring_append(parse_event_id(entry.id), entry.channel, self.frame(entry))
        self.head = parse_event_id(state.head)
        self.head_id = state.head

    async def apply(self, entries: list[LogEntry]) -> None:
        """Apply log entries, in order, to the in-memory state, and deliver their frames
        to every subscriber that has not got them yet."""
        self._apply_all(entries)
        while self._undelivered and not self._stale_epoch:
            await self._deliver()

    def _apply_all(self, entries: list[LogEntry]) -> None:
        """Apply entries to the state; queue their public events for delivery."""
        for entry in entries:
            if self._stale_epoch:
                return  # what follows belongs to the new epoch: the reload reads it
            event = self._apply_one(entry)
            if event is not None:
                self._undelivered.append(event)

    def _apply_one(self, entry: LogEntry) -> Event | None:
        """Apply one entry to the state and the ring; its event, if it is public."""
        eid = parse_event_id(entry.id)
        if eid <= self.head:
            return None  # already applied (a re-issued read)
        self.head, self.head_id = eid, entry.id
        channel = entry.channel
        if entry.type == "epoch":
            if _epoch_of(entry) != self.epoch:
                self._stale_epoch = True
            return None
        if entry.type == "channel":
            self.channels[channel] = Channel.from_json(json.loads(entry.data))
            self.items.setdefault(channel, {})
            return None
        if entry.type not in PUBLIC_TYPES:
            log.warning("ignoring log entry %s of unknown type %r", entry.id, entry.type)
            return None
        if channel in self._resets_pending:
            self._fold_resets(channel)  # the resets sent so far carried the items before
        items = self.items.setdefault(channel, {})
        if entry.type in ("publish", "update"):
            items[entry.item] = {"id": entry.item, **json.loads(entry.data)}
        else:
            items.pop(entry.item, None)
        self.last[channel] = entry.id
        self._channel_event_at[channel] = time.monotonic()
        frame = self.frame(entry)
        self._ring_append(eid, channel, frame)
        metrics.child(metrics.events, entry.type).inc()
        return eid, channel, frame

    async def _deliver(self) -> None:
        """The hot loop: one pass over the subscribers, bringing each up to `target`.

        Each subscriber gets what is newer than its `seen` id, for its channels, in
        one write. Usually that is one event, the same bytes for everyone. Events
        that queued while the process was busy go out together, up to
        `COALESCE_BYTES`: a process that falls behind catches up instead of paying a
        write per event per subscriber. A large pass yields to the event loop every
        `delivery_slice` subscribers, so that a publish or a connect is not held up
        behind it; events read meanwhile join the pass for the subscribers it has not
        reached yet, and the next pass brings the others up to date.

        Subscribers are listed at the start; one that joins meanwhile has the events
        already (its reset or replay is made from the state they were applied to).
        """
        events = self._undelivered
        first_upto = upto = _coalesced(events, 0)
        target = events[upto - 1][0]
        subscribers = self._listed({channel for _, channel, _ in events[:upto]})
        frames: dict[tuple[EventId, frozenset[str] | None], _Sending] = {}
        slice_size = self.settings.delivery_slice
        failed: list[Subscriber] = []
        # Most subscribers share `seen` and the channel set (the same objects): look the
        # frame up again only when either changes. `run` counts the subscribers given
        # the current frame since then, added to its tally when the frame changes: the
        # delivery and reach counts cost one addition per subscriber, no lookup.
        last_seen: EventId | None = None
        last_channels: frozenset[str] | None = None
        frame: Frame | None = None
        sending = _NOTHING
        run = 0
        tallies: list[_Sending] = []
        for n, sub in enumerate(subscribers, 1):
            seen = sub.seen
            if seen is not target and seen < target:
                if seen is not last_seen or sub.channels is not last_channels:
                    sending.sent += run
                    run = 0
                    key = last_seen, last_channels = seen, sub.channels
                    sending = frames.get(key) or _Sending(events[:upto], sub.channels, seen)
                    if key not in frames:
                        frames[key] = sending
                        tallies.append(sending)
                    frame = sending.frame
                sub.seen = target
                if frame is not None:
                    try:
                        sub.push(frame)
                    except Exception:  # one broken connection must not stop the others
                        log.exception("dropping a subscriber that failed to take a frame")
                        failed.append(sub)
                    run += 1
            if n % slice_size == 0:
                await asyncio.sleep(0)
                if self._join_new_events():
                    more = _coalesced(events, upto)
                    if more > upto:
                        upto, target = more, events[more - 1][0]
                        frames.clear()  # `tallies` keeps their counts
                        last_seen = None
        sending.sent += run
        delivered = 0
        reach = self._reach
        for tally in tallies:
            if tally.sent:
                delivered += tally.sent * tally.count
                for item in tally.reached:
                    reach[item] = reach.get(item, 0) + tally.sent
        for sub in failed:
            self.unsubscribe(sub)
        # Every subscriber now has the events the pass began with; those that joined it
        # later still need a pass for the subscribers it had gone by.
        metrics.delivered([eid[0] for eid, _, _ in events[:first_upto]], delivered)
        del events[:first_upto]

    def _listed(self, channels: set[str]) -> list[Subscriber]:
        if len(channels) == 1:  # the usual case
            (channel,) = channels
            return [*self._by_channel.get(channel, ()), *self._everything]
        listed = dict.fromkeys(self._everything)
        for channel in sorted(channels):
            listed.update(dict.fromkeys(self._by_channel.get(channel, ())))
        return list(listed)

    def _join_new_events(self) -> bool:
        """Apply what the read-ahead XREAD brought, if it is back; then issue the next."""
        reading = self._reading
        if reading is None:
            self._read_ahead()
            return False
        if not reading.done() or reading.cancelled() or reading.exception() is not None:
            return False  # an error is raised where `_follow` awaits it
        self._reading = None
        self._apply_all(_entries(reading.result()))
        if not self._stale_epoch:
            self._read_ahead()
        return True

    @staticmethod
    def frame(entry: LogEntry) -> Frame:
        if entry.type in ("publish", "update"):
            # Stored items leave out their id (it is the hash field); put it first.
            data = f'{{"id":"{entry.item}",{entry.data[1:]}'
        else:
            data = entry.data
        return event_frame(entry.id, entry.type, data)

    def _ring_append(self, eid: EventId, channel: str, frame: Frame) -> None:
        self._ring_ids.append(eid)
        self._ring.append((channel, frame))
        if len(self._ring_ids) - self._ring_start > self.ring_size:
            self.floor = self._ring_ids[self._ring_start]
            self._ring_start += 1
            if self._ring_start >= self.ring_size:  # compact now and then, not per event
                del self._ring_ids[: self._ring_start]
                del self._ring[: self._ring_start]
                self._ring_start = 0

    def snapshot(self, channel: str, limit: int = RESET_ITEMS) -> dict[str, Any]:
        items = sorted(
            self.items.get(channel, {}).values(),
            key=lambda item: parse_event_id(item["id"]),
            reverse=True,
        )
        return {
            "channel": channel,
            "last_event_id": self.last.get(channel, "0-0"),
            "items": items[:limit],
        }

    def reset_frame(self, channel: str) -> Frame:
        """The `reset` event of a channel at the current head, shared until the head moves.

        Its id is the head, so a client that reconnects with it resumes exactly here."""
        cached = self._reset_cache.get(channel)
        if cached is not None and cached[0] == self.head:
            return cached[1]
        frame = event_frame(self.head_id, "reset", dumps(self.snapshot(channel)))
        self._reset_cache[channel] = (self.head, frame)
        return frame

    # Subscribers

    def subscribe(
        self, sub: Subscriber, after: EventId | None
    ) -> Coroutine[None, None, None] | None:
        """Register `sub` and send it what it must see first: a `reset` per channel,
        or the events after `after`, in order. Then it receives every event live.

        Served from memory at once, with no task and no await, except a resume older
        than the ring: that returns a coroutine reading Redis, for the caller to run.
        """
        wanted = sorted(self.channels) if sub.channels is None else sorted(sub.channels)
        sub.seen = self.head
        if (
            after is None
            or after < self.since  # from before the epoch: unknown (docs/api.md, "Epochs")
            or after[0] > time.time() * 1000 + FUTURE_TOLERANCE_MS
        ):
            self._add(sub)
            metrics.resets.inc()
            sub.write_many([self.reset_frame(channel) for channel in wanted])
            self._count_resets(wanted)
        elif after > self.head:
            # Another process is ahead of us; skip what the client has, as it arrives.
            sub.seen = after
            self._add(sub)
            metrics.child(metrics.resumes, "memory").inc()
        elif after >= self.floor:
            self._add(sub)
            metrics.child(metrics.resumes, "memory").inc()
            frames = self._ring_after(after, sub.channels)
            if frames:
                sub.write_many(frames)
                self._count_replay(frames, wanted)
        else:
            return self._resume_from_redis(sub, wanted, after)
        return None

    def _safely(self, sub: Subscriber, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            log.exception("dropping a subscriber that failed")
            sub.fail()
            self.unsubscribe(sub)

    def _add(self, sub: Subscriber) -> None:
        self._count += 1
        for label in sub.channels or ("*",):
            metrics.child(metrics.subscribers, label).inc()
        if sub.channels is None:
            self._everything.add(sub)
        else:
            for channel in sub.channels:
                self._by_channel.setdefault(channel, set()).add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub.channels is None:
            if sub in self._everything:
                self._everything.discard(sub)
                self._count -= 1
                metrics.child(metrics.subscribers, "*").dec()
            return
        removed = False
        for channel in sub.channels:
            group = self._by_channel.get(channel)
            if group is not None and sub in group:
                removed = True
                group.discard(sub)
                metrics.child(metrics.subscribers, channel).dec()
                if not group:
                    del self._by_channel[channel]
        self._count -= removed

    def _ring_after(self, after: EventId, channels: frozenset[str] | None) -> list[Frame]:
        start = bisect.bisect_right(self._ring_ids, after, lo=self._ring_start)
        ring = self._ring[start:]
        if channels is None:
            return [frame for _, frame in ring]
        return [frame for channel, frame in ring if channel in channels]

    async def _resume_from_redis(self, sub: Subscriber, wanted: list[str], after: EventId) -> None:
        """A resume older than the ring: read (after, head] from the log.

        The subscriber is registered first with its frames held back, so live
        events queue behind what we read; the reset frames and channel positions
        are taken at the same head before awaiting, so replay and live join
        without a gap or an overlap.
        """
        head, head_id = self.head, self.head_id
        resets = {channel: self.reset_frame(channel) for channel in wanted}
        last_at_head = {channel: self.last.get(channel, "0-0") for channel in wanted}
        sub.held = []
        sub.seen = head
        self._add(sub)
        if all(parse_event_id(last_at_head[c]) <= after for c in wanted):
            # No wanted channel changed since `after`: nothing to read, nothing to send.
            metrics.child(metrics.resumes, "memory").inc()
            sub.release([])
            return
        after_id = format_event_id(after)
        try:
            found = await self.store.read_range(after_id, head_id, self.settings.replay_max)
        except (RedisError, OSError) as exc:
            log.warning("cannot read the log to resume from %s (%s): sending resets", after_id, exc)
            metrics.resets.inc()
            sub.release(list(resets.values()))
            return
        metrics.child(metrics.resumes, "redis").inc()
        # A channel whose events after `after` may not all be in `found` gets a fresh
        # snapshot instead; a channel with no event since `after` lost nothing.
        reset_channels: set[str] = set()
        if after < parse_event_id(found.trimmed):
            reset_channels = {c for c in wanted if parse_event_id(last_at_head[c]) > after}
        if not found.complete:
            # The read stopped at its cap: channels that changed after it get a reset.
            cut = parse_event_id(found.entries[-1].id) if found.entries else after
            reset_channels |= {c for c in wanted if parse_event_id(last_at_head[c]) > cut}
        frames = [resets[c] for c in sorted(reset_channels)]
        if reset_channels:
            metrics.resets.inc()
        for entry in found.entries:
            if entry.type not in PUBLIC_TYPES or entry.channel in reset_channels:
                continue
            if sub.channels is None or entry.channel in sub.channels:
                if parse_event_id(entry.id) <= head:
                    frames.append(self.frame(entry))
        sub.release(frames)
        if not sub.dropped:
            self._count_resets(sorted(reset_channels))
            self._count_replay(frames, wanted)

    def _reset_everyone(self) -> None:
        for sub in self.subscribers():
            sub.seen = self.head
            channels = sorted(self.channels) if sub.channels is None else sorted(sub.channels)
            for channel in channels:
                sub.push(self.reset_frame(channel))


class _Sending:
    """What one pass of `Fanout._deliver` sends to the subscribers with a given `seen`
    and channel filter: the frames of `events` they want, as one frame; how many
    events that is; the items it publishes (channel, id); how many were sent it."""

    __slots__ = ("count", "frame", "reached", "sent")

    def __init__(self, events: list[Event], channels: frozenset[str] | None, seen: EventId) -> None:
        wanted = [
            (eid, channel, frame)
            for eid, channel, frame in events
            if eid > seen and (channels is None or channel in channels)
        ]
        self.frame = frame_of([f for _, _, f in wanted]) if wanted else None
        self.count = len(wanted)
        self.reached = [
            (channel, format_event_id(eid))
            for eid, channel, frame in wanted
            if frame.raw.startswith(b"id: %d-%d\nevent: publish\n" % eid)
        ]
        self.sent = 0


_NOTHING = _Sending([], None, (0, 0))  # before the first lookup of a pass
_PUBLISH = re.compile(rb"id: (\d+-\d+)\nevent: publish\n")


def _published_item(frame: Frame) -> str | None:
    """The item a frame publishes, if it is a `publish` event."""
    match = _PUBLISH.match(frame.raw)
    return match.group(1).decode() if match else None


def _expires_ms(rfc3339: str) -> int:
    return int(parse_rfc3339(rfc3339).timestamp() * 1000)


def _coalesced(events: list[Event], start: int) -> int:
    """How many of `events` a pass covers that already covers `start` of them: the
    first event always, however large, then as many as fit in `COALESCE_BYTES`."""
    size = sum(len(frame.raw) for _, _, frame in events[:start])
    end = start
    while end < len(events) and (end == 0 or size + len(events[end][2].raw) <= COALESCE_BYTES):
        size += len(events[end][2].raw)
        end += 1
    return end


def _epoch_of(entry: LogEntry) -> str:
    try:
        return str(json.loads(entry.data).get("epoch", ""))
    except (ValueError, AttributeError):
        return ""


def _entries(response: Any) -> list[LogEntry]:
    """The log entries of an XREAD response (None when the block timed out)."""
    return [
        LogEntry.from_fields(entry_id, fields)
        for _stream, entries in response or ()
        for entry_id, fields in entries
    ]
