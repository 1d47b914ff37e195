"""The broker: what the fan-out needs from the log, behind one seam.

After Centrifuge's `Broker` (broker.go), which keeps the log apart from the hub that
delivers: the fan-out (ticker/fanout/) asks a broker for the state to start from,
reads entries after an id, checks that the log is still in its epoch, and reads a
resume's history older than its ring. It never talks to Redis itself.

- `RedisBroker` (ticker/store/broker.py): the log in Redis, in the store layer, the
  only code that talks to Redis.
- `MemoryBroker` (ticker/broker/memory.py): a log in memory, for unit tests of the
  fan-out that append, trim, lose data and begin epochs at will.

A broker that cannot reach its log raises `BrokerError`; the fan-out then keeps
serving from memory and retries.
"""

from __future__ import annotations

from typing import Protocol

from ticker.store.broker import BLOCK_MS, READ_COUNT, BrokerError, RedisBroker, redis_broker
from ticker.store.store import EpochCheck, LoadedState, LogEntry, LogRange

__all__ = [
    "BLOCK_MS",
    "READ_COUNT",
    "Broker",
    "BrokerError",
    "RedisBroker",
    "redis_broker",
]


class Broker(Protocol):
    async def load(self, recent: int) -> LoadedState:
        """The live state, the `recent` newest log entries (oldest first) and the epoch,
        read in one atomic step; a log without an epoch gets one first."""
        ...

    async def check_epoch(self, epoch: str, read: str) -> EpochCheck:
        """Is the log still the one read up to the id `read`, in `epoch`? If it lost
        data, a new epoch begins (its verdict says who began it)."""
        ...

    async def read(self, after: str) -> list[LogEntry]:
        """The entries after the id `after`, oldest first, at most `READ_COUNT`; waits up
        to `BLOCK_MS` for one, then answers with none."""
        ...

    async def history(self, after: str, upto: str, limit: int) -> LogRange:
        """At most `limit` entries in (after, upto], with the trim horizon read with
        them: a resume older than the fan-out's ring."""
        ...

    async def close(self) -> None: ...
