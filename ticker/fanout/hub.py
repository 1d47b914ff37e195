"""The hub: every subscriber of this process, and delivery to them.

After Centrifuge's `Hub` (hub.go). A subscriber starts from memory, with a `reset` per
channel or the ring's events after its Last-Event-ID; only a resume older than the
ring reads the broker's history (docs/design.md, invariant 3). Then each pass of
`deliver` pushes the same encoded bytes into every matching subscriber's bounded
buffer; a subscriber whose buffer fills is dropped, and comes back with its
Last-Event-ID losing nothing (invariant 4). One timer pings the idle ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine

from ticker import metrics
from ticker.broker import Broker, BrokerError
from ticker.config import Settings
from ticker.fanout.reach import Reach
from ticker.fanout.state import PUBLIC_TYPES, Event, State, entry_frame
from ticker.fanout.subscriber import Subscriber
from ticker.frames import Frame, farewell_retry_ms, frame_of
from ticker.model import EventId, format_event_id, parse_event_id

__all__ = ["COALESCE_BYTES", "FUTURE_TOLERANCE_MS", "Hub"]

log = logging.getLogger("ticker.fanout")

FUTURE_TOLERANCE_MS = 60_000  # an id further ahead than this is bogus: answer with a reset
COALESCE_BYTES = 16 * 1024  # most bytes of a backlog's frames sent to a subscriber in one write


class Hub:
    """`join_new_events()` is the reader's: called at each yield of a long pass, it
    applies what was read meanwhile (queuing it here) and says whether it did."""

    def __init__(
        self,
        state: State,
        reach: Reach,
        broker: Broker,
        settings: Settings,
        join_new_events: Callable[[], bool],
    ) -> None:
        self.state = state
        self.reach = reach
        self.broker = broker
        self.settings = settings
        self.join_new_events = join_new_events
        # Events applied to the state that some subscriber may still need (oldest first).
        self.undelivered: list[Event] = []
        self._by_channel: dict[str, set[Subscriber]] = {}
        self._everything: set[Subscriber] = set()
        self._count = 0

    # Who is subscribed

    def subscribers(self) -> set[Subscriber]:
        return set(self._everything).union(*self._by_channel.values())

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

    def subscribe(
        self, sub: Subscriber, after: EventId | None
    ) -> Coroutine[None, None, None] | None:
        """Register `sub` and send it what it must see first: a `reset` per channel,
        or the events after `after`, in order. Then it receives every event live.

        Served from memory at once, with no task and no await, except a resume older
        than the ring: that returns a coroutine reading the broker, for the caller to run.
        """
        state = self.state
        wanted = sorted(state.channels) if sub.channels is None else sorted(sub.channels)
        sub.seen = state.head
        if (
            after is None
            or after < state.since  # from before the epoch: unknown (docs/api.md, "Epochs")
            or after[0] > time.time() * 1000 + FUTURE_TOLERANCE_MS
        ):
            self._add(sub)
            metrics.resets.inc()
            sub.write_many([state.reset_frame(channel) for channel in wanted])
            self.reach.count_resets(wanted)
        elif after > state.head:
            # Another process is ahead of us; skip what the client has, as it arrives.
            sub.seen = after
            self._add(sub)
            metrics.child(metrics.resumes, "memory").inc()
        elif after >= state.floor:
            self._add(sub)
            metrics.child(metrics.resumes, "memory").inc()
            frames = state.ring_after(after, sub.channels)
            if frames:
                sub.write_many(frames)
                self.reach.count_replay(frames, wanted)
        else:
            return self._resume_from_broker(sub, wanted, after)
        return None

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

    def _add(self, sub: Subscriber) -> None:
        self._count += 1
        for label in sub.channels or ("*",):
            metrics.child(metrics.subscribers, label).inc()
        if sub.channels is None:
            self._everything.add(sub)
        else:
            for channel in sub.channels:
                self._by_channel.setdefault(channel, set()).add(sub)

    def _safely(self, sub: Subscriber, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            log.exception("dropping a subscriber that failed")
            sub.fail()
            self.unsubscribe(sub)

    async def _resume_from_broker(self, sub: Subscriber, wanted: list[str], after: EventId) -> None:
        """A resume older than the ring: read (after, head] from the broker's log.

        The subscriber is registered first with its frames held back, so live
        events queue behind what we read; the reset frames and channel positions
        are taken at the same head before awaiting, so replay and live join
        without a gap or an overlap.
        """
        state = self.state
        head, head_id = state.head, state.head_id
        resets = {channel: state.reset_frame(channel) for channel in wanted}
        last_at_head = {channel: state.last.get(channel, "0-0") for channel in wanted}
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
            found = await self.broker.history(after_id, head_id, self.settings.replay_max)
        except BrokerError as exc:
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
                    frames.append(entry_frame(entry))
        sub.release(frames)
        if not sub.dropped:
            self.reach.count_resets(sorted(reset_channels))
            self.reach.count_replay(frames, wanted)

    def reset_everyone(self) -> None:
        """After a reload: every subscriber starts again from a `reset` at the new head."""
        state = self.state
        for sub in self.subscribers():
            sub.seen = state.head
            channels = sorted(state.channels) if sub.channels is None else sorted(sub.channels)
            for channel in channels:
                sub.push(state.reset_frame(channel))

    def close_all(self, retry_ms: int) -> None:
        """On shutdown: ask every client to come back after a random delay (each its
        own draw from `retry_ms`), so that they do not all come back at once."""
        for sub in self.subscribers():
            sub.close(farewell_retry_ms(retry_ms))

    # Delivery

    async def deliver(self) -> None:
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
        events = self.undelivered
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
                if self.join_new_events():
                    more = _coalesced(events, upto)
                    if more > upto:
                        upto, target = more, events[more - 1][0]
                        frames.clear()  # `tallies` keeps their counts
                        last_seen = None
        sending.sent += run
        delivered = 0
        reach = self.reach.counts
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

    # Keep-alive

    async def ping_forever(self) -> None:
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
            active = {c for c, at in self.state.event_at.items() if at >= cutoff}
            slice_size = self.settings.delivery_slice
            for n, sub in enumerate(self.subscribers(), 1):
                busy = bool(active) if sub.channels is None else not sub.channels.isdisjoint(active)
                if not busy:
                    self._safely(sub, sub.ping)
                if n % slice_size == 0:
                    await asyncio.sleep(0)


class _Sending:
    """What one pass of `Hub.deliver` sends to the subscribers with a given `seen`
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


def _coalesced(events: list[Event], start: int) -> int:
    """How many of `events` a pass covers that already covers `start` of them: the
    first event always, however large, then as many as fit in `COALESCE_BYTES`."""
    size = sum(len(frame.raw) for _, _, frame in events[:start])
    end = start
    while end < len(events) and (end == 0 or size + len(events[end][2].raw) <= COALESCE_BYTES):
        size += len(events[end][2].raw)
        end += 1
    return end
