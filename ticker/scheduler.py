"""Expiry and trimming, on a timer inside the app's lifespan (APScheduler 3.x).

Both jobs are single Lua scripts, so they are idempotent across replicas: every
replica may run them, and a second run finds nothing left to do. That is why
there is no lock (docs/design.md, "Traps": APScheduler's job stores do not stop replicas from
running the same job; an idempotent job does).
"""

from __future__ import annotations

import logging
import time

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.exceptions import RedisError

from ticker import metrics
from ticker.publishing import clock
from ticker.store import Store

log = logging.getLogger("ticker.scheduler")

EXPIRE_BATCH = 500


class Scheduler:
    def __init__(
        self, store: Store, expire_every: float, trim_every: float, retention_seconds: int
    ) -> None:
        self.store = store
        self.expire_every = expire_every
        self.trim_every = trim_every
        self.retention_seconds = retention_seconds
        self._scheduler = AsyncIOScheduler()

    def start(self) -> None:
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        self._scheduler.add_job(self.expire, "interval", seconds=self.expire_every, **common)
        self._scheduler.add_job(self.trim, "interval", seconds=self.trim_every, **common)
        self._scheduler.start()

    def stop(self) -> None:
        self._scheduler.shutdown(wait=False)

    async def expire(self) -> int:
        """Expire every item whose time has passed, in batches; returns how many."""
        metrics.scheduler_runs.labels("expire").inc()
        total = 0
        try:
            while True:
                now_ms = int(clock.now().timestamp() * 1000)  # the clock items are stamped by
                done = await self.store.expire_due(now_ms, EXPIRE_BATCH)
                total += len(done)
                if len(done) < EXPIRE_BATCH:
                    break
        except RedisError as exc:
            metrics.redis_errors.labels("scheduler").inc()
            log.warning(
                "expiry skipped: Redis unavailable (%s); next run in %.0f s", exc, self.expire_every
            )
        metrics.expired.inc(total)
        if total:
            log.info(
                "expired %d items", total, extra={"fields": {"action": "expire", "count": total}}
            )
        return total

    async def trim(self) -> int:
        """Drop log entries older than the retention, exactly (MINID, not approximate)."""
        metrics.scheduler_runs.labels("trim").inc()
        # The log's ids are Redis's clock, not the items' one: compare with real time.
        min_ms = int(time.time() * 1000) - self.retention_seconds * 1000
        try:
            removed = await self.store.trim(min_ms)
        except RedisError as exc:
            metrics.redis_errors.labels("scheduler").inc()
            log.warning("log trim skipped: Redis unavailable (%s)", exc)
            return 0
        return removed
