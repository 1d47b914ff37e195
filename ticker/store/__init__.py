"""The only code that talks to Redis: key names, Lua scripts, and the async store."""

from ticker.store.connect import api_client, open_store, reader_client
from ticker.store.keys import Keys
from ticker.store.store import (
    Conflict,
    EpochCheck,
    LoadedState,
    LogEntry,
    LogRange,
    NotFound,
    NotReplicated,
    PublishOutcome,
    Snapshot,
    Store,
    TokenRecord,
    UserRecord,
    dumps,
)

__all__ = [
    "Conflict",
    "EpochCheck",
    "Keys",
    "LoadedState",
    "LogEntry",
    "LogRange",
    "NotFound",
    "NotReplicated",
    "PublishOutcome",
    "Snapshot",
    "Store",
    "TokenRecord",
    "UserRecord",
    "api_client",
    "dumps",
    "open_store",
    "reader_client",
]
