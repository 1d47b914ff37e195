"""Redis clients: one place that knows where Redis is (a URL, or Sentinel) and how each
part of the service talks to it.

With `REDIS_SENTINELS` set, every client asks the Sentinels for the current master
and finds the new one after a failover; otherwise `REDIS_URL` names the server.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from ticker.config import ConfigError, Settings
from ticker.store.store import Store


def api_client(settings: Settings, timeout: float | None = None) -> Redis:
    """For request handlers: short timeouts and no retries, so a dead Redis is a fast 503
    rather than a hanging request (docs/api.md)."""
    timeout = settings.redis_timeout_seconds if timeout is None else timeout
    return _client(settings, socket_timeout=timeout, connect_timeout=timeout)


def reader_client(settings: Settings, block_ms: int) -> Redis:
    """For the blocking stream reader: its socket timeout sits above the XREAD block time
    (docs/design.md, "Traps": the default 5 s would cut blocked reads short)."""
    return _client(settings, socket_timeout=block_ms / 1000 + 5, connect_timeout=2)


def open_store(redis: Redis, settings: Settings) -> Store:
    """The store with the settings' key prefix, retention and replication demands."""
    return Store(
        redis,
        settings.key_prefix,
        idempotency_seconds=settings.idempotency_seconds,
        audit_retention_seconds=settings.audit_retention_seconds,
        replicas=settings.publish_replicas,
        replica_timeout_ms=settings.publish_replica_timeout_ms,
    )


def sentinel_addresses(raw: str) -> list[tuple[str, int]]:
    """`host:port,host:port` as a list of addresses."""
    addresses = []
    for part in raw.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"REDIS_SENTINELS must be host:port,host:port… (not {part!r}).")
        addresses.append((host, int(port)))
    return addresses


def _client(settings: Settings, *, socket_timeout: float, connect_timeout: float) -> Redis:
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    if settings.redis_sentinels:
        sentinel = Sentinel(
            sentinel_addresses(settings.redis_sentinels),
            sentinel_kwargs={
                "socket_timeout": connect_timeout,
                "socket_connect_timeout": connect_timeout,
            },
        )
        master: Redis = sentinel.master_for(settings.redis_sentinel_master, **options)
        return master
    if not settings.redis_url:
        raise ConfigError(
            "Set REDIS_URL or REDIS_SENTINELS (ticker serve starts an embedded "
            "Redis when neither is set)."
        )
    return Redis.from_url(settings.redis_url, **options)
