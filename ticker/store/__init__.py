"""The only code that talks to Redis: key names, Lua scripts, and the async store."""

from ticker.store.keys import Keys
from ticker.store.store import (
    Conflict,
    LoadedState,
    LogEntry,
    NotFound,
    PublishOutcome,
    Snapshot,
    Store,
    TokenRecord,
    UserRecord,
    api_client,
    dumps,
    reader_client,
    with_id,
)

__all__ = [
    "Conflict",
    "Keys",
    "LoadedState",
    "LogEntry",
    "NotFound",
    "PublishOutcome",
    "Snapshot",
    "Store",
    "TokenRecord",
    "UserRecord",
    "api_client",
    "dumps",
    "reader_client",
    "with_id",
]
