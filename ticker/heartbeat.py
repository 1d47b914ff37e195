"""Each process's heartbeat in Redis: the fleet's status view, and reach for editors.

Every `TICKER_HEARTBEAT_SECONDS` a process writes what `GET /api/v1/status` shows of it
(host, pid, version, start time, open streams per channel, its log position, readers
dropped as too slow) under a key that expires after three beats, so a process that
dies leaves the view by itself, and adds the streams each item went out to since its
last beat to the counts that every process shares (docs/api.md, "Fleet status" and
"Reach"). Redis is touched once per beat, never per reader or per delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter as PromCounter
from redis.exceptions import RedisError

from ticker import __version__, metrics
from ticker.fanout import Fanout
from ticker.model import parse_event_id
from ticker.store import Store, dumps

log = logging.getLogger("ticker.heartbeat")

BEATS_TO_LIVE = 3  # a process silent this many beats is gone
REACH_KEPT_MS = 86_400_000  # a reach count outlives its item by a day (the desk's "ended")


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Heartbeat:
    def __init__(self, store: Store, fanout: Fanout, interval: float) -> None:
        self.store = store
        self.fanout = fanout
        self.interval = interval
        self.host = socket.gethostname()
        self.pid = os.getpid()
        # Unique per start: a restarted process on the same host and pid is a new one.
        self.id = f"{self.host}-{self.pid}-{secrets.token_hex(3)}"
        self.started = time.time()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ticker-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self._flush_reach()  # what was delivered since the last beat still counts
            await self.store.leave(self.id)
        except (RedisError, OSError) as exc:
            log.warning("could not leave the status view (%s); it expires by itself", exc)

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except (RedisError, OSError) as exc:
                # Reach counts stay in memory and go with the next beat that gets through.
                log.warning("heartbeat not written (%s); retrying in %.1f s", exc, self.interval)
            await asyncio.sleep(self.interval)

    async def beat(self) -> None:
        await self._flush_reach()
        now = time.time()
        ttl_ms = int(self.interval * BEATS_TO_LIVE * 1000)
        await self.store.beat(self.id, dumps(self.record(now)), ttl_ms, int(now * 1000))

    async def _flush_reach(self) -> None:
        reach = self.fanout.take_reach()
        try:
            await self.store.add_reach(
                {key: (n, expires_ms + REACH_KEPT_MS) for key, (n, expires_ms) in reach.items()}
            )
        except BaseException:
            self.fanout.give_back_reach(reach)  # counted at the next beat instead
            raise

    def record(self, now: float) -> dict[str, Any]:
        """What the status view shows of this process."""
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "version": __version__,
            "started": rfc3339(self.started),
            "beat_at": rfc3339(now),
            "ready": self.fanout.ready.is_set(),
            "log_position": self.fanout.head_id,
            "subscribers": self.fanout.subscriber_count,
            "channels": self.fanout.subscriber_counts(),
            "dropped": int(_total(metrics.dropped)),
        }


def _total(counter: PromCounter) -> float:
    """A counter's value in this process (prometheus-client has no public getter)."""
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                return sample.value
    return 0.0


async def fleet_status(store: Store, heartbeat_seconds: float) -> dict[str, Any]:
    """The body of GET /api/v1/status (the desk's status page renders the same)."""
    beats = await store.heartbeats()
    head = await store.head()
    head_ms = parse_event_id(head)[0]
    processes = sorted((_process(b, head_ms) for b in beats), key=lambda p: (p["host"], p["pid"]))
    channels: dict[str, int] = {}
    for p in processes:
        for channel, n in p["channels"].items():
            channels[channel] = channels.get(channel, 0) + n
    return {
        "time": rfc3339(time.time()),
        "heartbeat_seconds": heartbeat_seconds,
        "log_head": head,
        "totals": {
            "processes": len(processes),
            "ready": sum(p["ready"] for p in processes),
            "subscribers": sum(p["subscribers"] for p in processes),
            "channels": dict(sorted(channels.items())),
            "dropped": sum(p["dropped"] for p in processes),
        },
        "processes": processes,
    }


def _process(beat: dict[str, Any], head_ms: int) -> dict[str, Any]:
    position_ms = parse_event_id(beat["log_position"])[0]
    # How far its log position trails the newest entry: 0 for a process that is up to date.
    return {**beat, "behind_ms": max(0, head_ms - position_ms)}
