"""`Fanout`: the one reader of the log per process, and what the app holds.

One task reads the broker from an explicit last id (never `$`, docs/design.md,
"Traps"), applies each entry to the state (ticker/fanout/state.py), which encodes each
public event's frame once and appends it to the ring, and has the hub
(ticker/fanout/hub.py) deliver it. The next read is issued before a pass begins, so
that entries arriving during a long pass join it.

The log has an epoch (docs/api.md, "Epochs"): a run of it that no data loss has
broken. The reader checks it each time it reconnects, and an `epoch` entry in the
log tells it when another process began a new one; either way it reloads the state
and the hub sends every subscriber a `reset`. None of this is on the delivery path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from prometheus_client import Counter, Gauge

from ticker import metrics
from ticker.broker import Broker, BrokerError
from ticker.config import Settings
from ticker.fanout.hub import Hub
from ticker.fanout.reach import Reach
from ticker.fanout.state import State
from ticker.fanout.subscriber import Subscriber
from ticker.model import Channel, EventId
from ticker.store import LogEntry

__all__ = ["MAX_BACKOFF", "EpochChanged", "Fanout", "StartupError", "redis_up", "reloads"]

log = logging.getLogger("ticker.fanout")

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


class StartupError(RuntimeError):
    """The fan-out could not load its first state from Redis in time."""


class EpochChanged(Exception):
    """The log began a new epoch (an `epoch` entry of another id was read)."""


class Fanout:
    """The process's fan-out: give it a broker, `start()` it, and subscribe streams.

    It owns the state, the reach counts and the hub; what the app reads of them
    (channels, head, counts) goes through here, so callers need not know the parts.
    `stop()` closes the broker it was given.
    """

    def __init__(self, broker: Broker, settings: Settings) -> None:
        self.broker = broker
        self.settings = settings
        self.ring_size = settings.ring_size
        self.ready = asyncio.Event()
        self.following = False  # the reader is connected to the broker and reading on
        self.last_error = ""  # why the reader last lost the broker (for startup errors)
        self.state = State(settings.ring_size, before_change=self._before_change)
        self.reach = Reach(self.state)
        self.hub = Hub(self.state, self.reach, broker, settings, self._join_new_events)
        self._task: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._resumes: set[asyncio.Task[None]] = set()
        self._reading: asyncio.Future[list[LogEntry]] | None = None  # the next read, once issued

    # Life cycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ticker-fanout")
        self._pinger = asyncio.create_task(self.hub.ping_forever(), name="ticker-ping")

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
        """Stop reading and pinging, say goodbye to every subscriber, close the broker."""
        self._forget_read()
        for task in (self._task, self._pinger, *self._resumes):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.hub.close_all(self.settings.retry_ms)
        await self.broker.close()

    def run_soon(self, resuming: Coroutine[None, None, None]) -> None:
        """Run a resume from the broker in the background, keeping a reference to its task."""
        task = asyncio.create_task(resuming)
        self._resumes.add(task)
        task.add_done_callback(self._resumes.discard)

    # What the app reads: the state, the hub and the reach counts

    @property
    def channels(self) -> dict[str, Channel]:
        return self.state.channels

    @property
    def items(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self.state.items

    @property
    def head(self) -> EventId:
        return self.state.head

    @property
    def head_id(self) -> str:
        return self.state.head_id

    @property
    def epoch(self) -> str:
        return self.state.epoch

    @property
    def since(self) -> EventId:
        return self.state.since

    def snapshot(self, channel: str) -> dict[str, Any]:
        return self.state.snapshot(channel)

    def subscribe(
        self, sub: Subscriber, after: EventId | None
    ) -> Coroutine[None, None, None] | None:
        return self.hub.subscribe(sub, after)

    def unsubscribe(self, sub: Subscriber) -> None:
        self.hub.unsubscribe(sub)

    def subscribers(self) -> set[Subscriber]:
        return self.hub.subscribers()

    @property
    def subscriber_count(self) -> int:
        return self.hub.subscriber_count

    def subscriber_counts(self) -> dict[str, int]:
        return self.hub.subscriber_counts()

    def take_reach(self) -> dict[tuple[str, str], tuple[int, int]]:
        return self.reach.take()

    def give_back_reach(self, reach: dict[tuple[str, str], tuple[int, int]]) -> None:
        self.reach.give_back(reach)

    # The reader

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
            except BrokerError as exc:
                self._forget_read()
                self._following(False)
                self.last_error = str(exc)
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
        check = await self.broker.check_epoch(self.state.epoch, self.state.head_id)
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
        """Load the state from the broker; after the first load, send everyone a `reset`."""
        loaded = await self.broker.load(self.ring_size + 1)
        self.reach.fold_all()  # the resets sent so far, against the items they carried
        self.hub.undelivered = []
        self.state.load(loaded)
        state = self.state
        if not self.ready.is_set():
            self.ready.set()
            log.info(
                "fan-out ready at %s (epoch %s), %d channels",
                state.head_id,
                state.epoch,
                len(state.channels),
            )
            return
        log.warning(
            "reloaded the stream state at %s (epoch %s, %s): a reset to %d subscribers",
            state.head_id,
            state.epoch,
            reason,
            self.hub.subscriber_count,
        )
        metrics.child(reloads, reason).inc()
        self.hub.reset_everyone()

    async def _follow(self) -> None:
        while True:
            entries = await (self._reading or self._read_ahead())
            self._reading = None
            if not entries:
                # Quiet for a whole block: look again, for a loss that came without a
                # disconnect (a flushed Redis, a failover behind a proxy).
                await self._check_epoch()
                continue
            await self.apply(entries)
            if self.state.stale_epoch:
                raise EpochChanged

    def _read_ahead(self) -> asyncio.Future[list[LogEntry]]:
        """Issue the next read now, so that events arriving during a long fan-out
        join it (see `Hub.deliver`) instead of waiting for it to end."""
        self._reading = asyncio.ensure_future(self.broker.read(self.state.head_id))
        return self._reading

    def _forget_read(self) -> None:
        reading, self._reading = self._reading, None
        if reading is not None:
            if reading.done() and not reading.cancelled():
                reading.exception()  # retrieved: it was reported where it was awaited
            reading.cancel()

    def _join_new_events(self) -> bool:
        """Apply what the read-ahead brought, if it is back; then issue the next."""
        reading = self._reading
        if reading is None:
            self._read_ahead()
            return False
        if not reading.done() or reading.cancelled() or reading.exception() is not None:
            return False  # an error is raised where `_follow` awaits it
        self._reading = None
        self._apply_all(reading.result())
        if not self.state.stale_epoch:
            self._read_ahead()
        return True

    # Applying entries

    async def apply(self, entries: list[LogEntry]) -> None:
        """Apply log entries, in order, to the in-memory state, and deliver their frames
        to every subscriber that has not got them yet."""
        self._apply_all(entries)
        while self.hub.undelivered and not self.state.stale_epoch:
            await self.hub.deliver()

    def _apply_all(self, entries: list[LogEntry]) -> None:
        """Apply entries to the state; queue their public events for delivery."""
        state, undelivered = self.state, self.hub.undelivered
        for entry in entries:
            if state.stale_epoch:
                return  # what follows belongs to the new epoch: the reload reads it
            event = state.apply(entry)
            if event is not None:
                undelivered.append(event)

    def _before_change(self, channel: str) -> None:
        self.reach.fold(channel)
