"""A broker whose log lives in memory: the fan-out's unit tests drive it.

It keeps what the Redis scripts keep (ticker/store/scripts.py): the live state (channels,
items, each channel's last event), the log with its ids, the trim horizon and the
epoch, and gives the same answers `RedisBroker` gives, so that tests can append, trim,
lose data, begin epochs and go down at will, with no Redis and no waiting.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import secrets
import time

from ticker.model import (
    ITEM_EVENTS,
    REMOVAL_EVENTS,
    Channel,
    EventId,
    EventType,
    format_event_id,
    parse_event_id,
)
from ticker.store import EpochCheck, LoadedState, LogEntry, LogRange, dumps
from ticker.store.broker import BLOCK_MS, READ_COUNT, BrokerError

__all__ = ["MemoryBroker"]

EXPIRES_AT = "2099-01-01T00:00:00Z"  # what the helpers' items carry unless told


class MemoryBroker:
    """The log in memory. Write with `add` (or `save_channel`, `publish`, `update`,
    `retract`, `expire`), which apply each entry to the state as the scripts do; break
    it with `trim`, `lose_everything`, `lose_after`, `begin_epoch` and `down`."""

    def __init__(self, block_seconds: float = BLOCK_MS / 1000) -> None:
        self.block_seconds = block_seconds  # how long a read waits for an entry
        self.down = False  # every call raises BrokerError, as with Redis gone
        self.reads = 0  # calls of `read`
        self.histories: list[LogRange] = []  # what each `history` call answered
        self.channels: dict[str, Channel] = {}
        self.items: dict[str, dict[str, str]] = {}  # channel -> item id -> stored json
        self.last: dict[str, str] = {}
        self.entries: list[LogEntry] = []
        self._ids: list[EventId] = []  # the entries' ids, parsed: for bisecting
        self.generated: EventId = (0, 0)  # the newest id ever added ("last-generated-id")
        self.trimmed = "0-0"
        self.epoch = ""
        self.since = "0-0"
        self._appended = asyncio.Event()  # set, and replaced, at every append

    # The log, as the store's scripts write it

    def add(
        self, type_: str, channel: str, data: str = "{}", item: str = "", at: str = ""
    ) -> LogEntry:
        """Append one entry (its id the next one, or `at`) and apply it to the state."""
        eid = parse_event_id(at) if at else self._next_id()
        if eid <= self.generated:
            raise ValueError(f"{format_event_id(eid)} is not above {self.head}")
        entry_id = format_event_id(eid)
        entry = LogEntry(id=entry_id, type=type_, channel=channel, item=item or entry_id, data=data)
        if type_ == "channel":
            self.channels[channel] = Channel.from_json(json.loads(data))
        elif type_ in ITEM_EVENTS:
            self.items.setdefault(channel, {})[entry.item] = data
            self.last[channel] = entry_id
        elif type_ in REMOVAL_EVENTS:
            self.items.get(channel, {}).pop(entry.item, None)
            self.last[channel] = entry_id
        self.entries.append(entry)
        self._ids.append(eid)
        self.generated = eid
        self._appended.set()
        self._appended = asyncio.Event()
        return entry

    def save_channel(self, channel_id: str, title: str = "") -> LogEntry:
        return self.add(
            "channel", channel_id, dumps({"id": channel_id, "title": title or channel_id})
        )

    def publish(
        self, channel: str, text: str, expires_at: str = EXPIRES_AT, at: str = ""
    ) -> LogEntry:
        item = {"channel": channel, "text": text, "priority": "normal", "expires_at": expires_at}
        return self.add(EventType.PUBLISH, channel, dumps(item), at=at)

    def update(self, channel: str, item_id: str, text: str) -> LogEntry:
        old = json.loads(self.items[channel][item_id])
        return self.add(EventType.UPDATE, channel, dumps({**old, "text": text}), item=item_id)

    def retract(self, channel: str, item_id: str) -> LogEntry:
        data = dumps({"id": item_id, "channel": channel, "reason": None})
        return self.add(EventType.RETRACT, channel, data, item=item_id)

    def expire(self, channel: str, item_id: str) -> LogEntry:
        return self.add(
            EventType.EXPIRE, channel, dumps({"id": item_id, "channel": channel}), item=item_id
        )

    def trim(self, upto: str) -> int:
        """Remove the entries up to `upto`, moving the trim horizon (the TRIM script)."""
        cut = bisect.bisect_right(self._ids, parse_event_id(upto))
        if cut:
            self.trimmed = max(self.trimmed, self.entries[cut - 1].id, key=parse_event_id)
        del self.entries[:cut], self._ids[:cut]
        return cut

    def lose_everything(self) -> None:
        """Redis came back empty (restarted without persistence, flushed)."""
        self.channels, self.items, self.last = {}, {}, {}
        self.entries, self._ids = [], []
        self.generated, self.trimmed, self.epoch, self.since = (0, 0), "0-0", "", "0-0"

    def lose_after(self, kept: str) -> None:
        """A failover to a replica that had the log up to `kept` only: the newer entries
        are gone (and the state they made; it is not rebuilt here), the epoch stays."""
        cut = bisect.bisect_right(self._ids, parse_event_id(kept))
        del self.entries[cut:], self._ids[cut:]
        self.generated = parse_event_id(kept)

    def begin_epoch(self) -> LogEntry:
        """Another process found a loss and began a new epoch (its entry is in the log)."""
        self._new_epoch(self.head)
        return self.entries[-1]

    @property
    def head(self) -> str:
        return format_event_id(self.generated)

    # The Broker protocol

    async def load(self, recent: int) -> LoadedState:
        self._check_up()
        if not self.epoch:
            self._new_epoch("0-0")
        return LoadedState(
            head=self.head,
            channels=dict(self.channels),
            items={channel: dict(self.items.get(channel, {})) for channel in self.channels},
            last=dict(self.last),
            recent=self.entries[-recent:] if recent else [],
            trimmed=self.trimmed,
            epoch=self.epoch,
            since=self.since,
        )

    async def check_epoch(self, epoch: str, read: str) -> EpochCheck:
        self._check_up()
        if not self.epoch:
            self._new_epoch(read)
            return EpochCheck(self.epoch, self.since, "missing")
        if self.epoch != epoch:
            return EpochCheck(self.epoch, self.since, "changed")
        eid = parse_event_id(read)
        if read == "0-0" or eid in self._ids or parse_event_id(self.trimmed) >= eid:
            return EpochCheck(self.epoch, self.since, "same")  # there, or trimmed in its time
        self._new_epoch(read)
        return EpochCheck(self.epoch, self.since, "behind")

    async def read(self, after: str) -> list[LogEntry]:
        self._check_up()
        self.reads += 1
        start = bisect.bisect_right(self._ids, parse_event_id(after))
        if start == len(self._ids):
            appended = self._appended
            try:
                await asyncio.wait_for(appended.wait(), self.block_seconds)
            except TimeoutError:
                return []
            self._check_up()
            start = bisect.bisect_right(self._ids, parse_event_id(after))
        return self.entries[start : start + READ_COUNT]

    async def history(self, after: str, upto: str, limit: int) -> LogRange:
        self._check_up()
        start = bisect.bisect_right(self._ids, parse_event_id(after))
        end = bisect.bisect_right(self._ids, parse_event_id(upto))
        found = self.entries[start:end]
        answer = LogRange(self.trimmed, found[:limit], complete=len(found) <= limit)
        self.histories.append(answer)
        return answer

    async def close(self) -> None:
        pass  # nothing to release

    # The rest

    def wake(self) -> None:
        """End a blocked read now (it answers with none, or raises if `down`)."""
        self._appended.set()
        self._appended = asyncio.Event()

    def _check_up(self) -> None:
        if self.down:
            raise BrokerError("ConnectionError: the memory broker is down")

    def _next_id(self) -> EventId:
        ms, seq = self.generated
        now = int(time.time() * 1000)
        return (now, 0) if now > ms else (ms, seq + 1)

    def _new_epoch(self, floor: str) -> None:
        """As the scripts' `new_epoch`: its first id is above every id handed out so far."""
        top = max(parse_event_id(floor), self.generated)
        now = int(time.time() * 1000)
        since = (now, 0) if now > top[0] else (top[0], top[1] + 1)
        self.epoch = secrets.token_hex(8)
        self.since = format_event_id(since)
        self.add("epoch", "", dumps({"epoch": self.epoch}), at=self.since)
