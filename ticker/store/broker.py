"""The fan-out's broker on Redis: the log read as the stream reader needs it.

Every call the fan-out makes to Redis goes through here (ticker/broker/ says what a
broker is). Two connections, as before the seam: `store` for the scripted reads (the
state, the epoch check, a resume's history) and `reader` for the blocking `XREAD`, so
that a long block never queues the others behind it.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ticker.config import Settings
from ticker.store.connect import open_store, reader_client
from ticker.store.store import EpochCheck, LoadedState, LogEntry, LogRange, Store

__all__ = ["BLOCK_MS", "READ_COUNT", "BrokerError", "RedisBroker", "redis_broker"]

BLOCK_MS = 5000  # how long one read waits for an entry before it answers with none
READ_COUNT = 1000  # the most entries one read brings


class BrokerError(Exception):
    """The log cannot be reached now (Redis is down, timed out, failing over)."""


class RedisBroker:
    """The `Broker` of ticker/broker/ on Redis (it satisfies the protocol by shape)."""

    def __init__(self, store: Store, reader: Redis) -> None:
        self.store = store
        self.reader = reader

    async def load(self, recent: int) -> LoadedState:
        try:
            return await self.store.load(recent)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def check_epoch(self, epoch: str, read: str) -> EpochCheck:
        try:
            return await self.store.check_epoch(epoch, read)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def read(self, after: str) -> list[LogEntry]:
        # An explicit id, never `$` (docs/design.md, "Traps").
        try:
            response = await self.reader.xread(
                {self.store.keys.log: after}, count=READ_COUNT, block=BLOCK_MS
            )
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc
        return _entries(response)

    async def history(self, after: str, upto: str, limit: int) -> LogRange:
        try:
            return await self.store.read_range(after, upto, limit)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def close(self) -> None:
        await self.reader.aclose()
        await self.store.close()


def redis_broker(settings: Settings) -> RedisBroker:
    """The broker of a serving process, on connections whose timeouts sit above the
    block time (ticker/store/connect.py)."""
    store = open_store(reader_client(settings, BLOCK_MS), settings)
    return RedisBroker(store, reader_client(settings, BLOCK_MS))


def _unavailable(exc: BaseException) -> BrokerError:
    # The original's type stays in the text: the startup error and the logs name it.
    return BrokerError(f"{type(exc).__name__}: {exc}")


def _entries(response: Any) -> list[LogEntry]:
    """The log entries of an XREAD response (None when the block timed out)."""
    return [
        LogEntry.from_fields(entry_id, fields)
        for _stream, entries in response or ()
        for entry_id, fields in entries
    ]
