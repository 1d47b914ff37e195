"""The fan-out's memory: the live state of every channel and the ring of recent events.

Loaded from the broker in one step, then moved on by each log entry the reader
applies. Connects and resumes are served from here (docs/design.md, invariant 3): a
channel's `reset` is a snapshot of its items at the head, and a resume newer than the
ring's floor replays the ring. Nothing here awaits or talks to the broker.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from ticker import metrics
from ticker.frames import Frame, event_frame
from ticker.model import ITEM_EVENTS, Channel, EventId, EventType, newest_first, parse_event_id
from ticker.store import LoadedState, LogEntry, dumps

__all__ = ["PUBLIC_TYPES", "RESET_ITEMS", "Event", "State", "entry_frame"]

log = logging.getLogger("ticker.fanout")

PUBLIC_TYPES = frozenset(EventType)
RESET_ITEMS = 100  # the most items a reset snapshot carries (the API's largest limit)

Event = tuple[EventId, str, Frame]  # (id, channel, frame) of one public event


def entry_frame(entry: LogEntry) -> Frame:
    """The SSE frame of a public log entry."""
    if entry.type in ITEM_EVENTS:
        # Stored items leave out their id (it is the hash field); put it first.
        data = f'{{"id":"{entry.item}",{entry.data[1:]}'
    else:
        data = entry.data
    return event_frame(entry.id, entry.type, data)


class State:
    """Channels, items and positions as of `head`, and the ring of recent events.

    `before_change(channel)` is called just before an event changes a channel's items:
    the reach counts fold the resets sent so far into the items those resets carried
    (ticker/fanout/reach.py).
    """

    def __init__(self, ring_size: int, before_change: Callable[[str], None]) -> None:
        self.ring_size = ring_size
        self.before_change = before_change
        self.channels: dict[str, Channel] = {}
        self.items: dict[str, dict[str, dict[str, Any]]] = {}
        self.last: dict[str, str] = {}  # each channel's last event id
        self.head: EventId = (0, 0)
        self.head_id = "0-0"
        # The log's epoch, and the id of its first entry: any id below it is unknown.
        self.epoch = ""
        self.since: EventId = (0, 0)
        self.stale_epoch = False  # an `epoch` entry of another epoch was read
        self.event_at: dict[str, float] = {}  # monotonic time of each channel's last event
        # The ring covers every public event with an id above `floor`.
        self.floor: EventId = (0, 0)
        self._ring_ids: list[EventId] = []
        self._ring: list[tuple[str, Frame]] = []
        self._ring_start = 0
        self._reset_cache: dict[str, tuple[EventId, Frame]] = {}

    def load(self, state: LoadedState) -> None:
        """Start again from `state` (the caller has folded the reach counts first)."""
        self.stale_epoch = False
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
            # The reader asked for one entry more than the ring holds: it marks the floor.
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
                self._ring_append(parse_event_id(entry.id), entry.channel, entry_frame(entry))
        self.head = parse_event_id(state.head)
        self.head_id = state.head

    def apply(self, entry: LogEntry) -> Event | None:
        """Apply one entry to the state and the ring; its event, if it is public."""
        eid = parse_event_id(entry.id)
        if eid <= self.head:
            return None  # already applied (a re-issued read)
        self.head, self.head_id = eid, entry.id
        channel = entry.channel
        if entry.type == "epoch":
            if _epoch_of(entry) != self.epoch:
                self.stale_epoch = True
            return None
        if entry.type == "channel":
            self.channels[channel] = Channel.from_json(json.loads(entry.data))
            self.items.setdefault(channel, {})
            return None
        if entry.type not in PUBLIC_TYPES:
            log.warning("ignoring log entry %s of unknown type %r", entry.id, entry.type)
            return None
        self.before_change(channel)
        items = self.items.setdefault(channel, {})
        if entry.type in ITEM_EVENTS:
            items[entry.item] = {"id": entry.item, **json.loads(entry.data)}
        else:
            items.pop(entry.item, None)
        self.last[channel] = entry.id
        self.event_at[channel] = time.monotonic()
        frame = entry_frame(entry)
        self._ring_append(eid, channel, frame)
        metrics.child(metrics.events, entry.type).inc()
        return eid, channel, frame

    def snapshot(self, channel: str, limit: int = RESET_ITEMS) -> dict[str, Any]:
        items = newest_first(self.items.get(channel, {}).values())
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

    def ring_after(self, after: EventId, channels: frozenset[str] | None) -> list[Frame]:
        """The ring's frames after `after` (at or above the floor), for `channels`."""
        start = bisect.bisect_right(self._ring_ids, after, lo=self._ring_start)
        ring = self._ring[start:]
        if channels is None:
            return [frame for _, frame in ring]
        return [frame for channel, frame in ring if channel in channels]

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


def _epoch_of(entry: LogEntry) -> str:
    try:
        return str(json.loads(entry.data).get("epoch", ""))
    except (ValueError, AttributeError):
        return ""
