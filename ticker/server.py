"""Running the service: what `ticker serve` does between its command line and uvicorn.

In order: the Redis to use (REDIS_URL or the Sentinels, else an embedded Valkey started
here and stopped on the way out), the first-run bootstrap (the `main` channel and one
admin), the settings handed to the app through the environment (so that every worker
builds the same app), the metrics folder shared by several workers, then uvicorn with
the stream fast path as its HTTP protocol. SIGTERM ends `serve` like Ctrl+C does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import signal
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError

from ticker.auth import hash_password
from ticker.config import Settings
from ticker.model import Channel, rfc3339, utc_now
from ticker.store import Store, UserRecord, api_client, open_store

__all__ = ["StartError", "connected_store", "serve", "uvicorn_options"]

# The app factory each uvicorn worker calls; it reads the settings from the environment.
APP_FACTORY = "ticker.app:create_app_from_env"
FAST_PATH_PROTOCOL = "ticker.stream.fastpath:StreamProtocol"
GRACEFUL_SHUTDOWN_SECONDS = 5


class StartError(Exception):
    """The service cannot start for a reason the user can fix; the message says how."""


def serve(settings: Settings) -> None:
    """Run the whole service until Ctrl+C or SIGTERM; the embedded store, if this call
    started one, is stopped before it returns."""
    embedded = None
    if not settings.redis_url and not settings.redis_sentinels:
        from ticker.embedded import EmbeddedError, EmbeddedRedis

        embedded = EmbeddedRedis(settings.data_dir)
        try:
            url = embedded.start()
        except EmbeddedError as exc:
            raise StartError(str(exc)) from None
        print(
            f"Embedded Valkey at {url}; data in {settings.data_dir.resolve()} "
            "(append-only file on, fsync on every write). "
            "Set REDIS_URL to use your own Redis or Valkey.",
            flush=True,
        )
        settings = dataclasses.replace(settings, redis_url=url)
    try:
        asyncio.run(_bootstrap(settings))
        os.environ.update(settings.to_env())
        if settings.workers > 1:
            _prepare_multiprocess_metrics()
        base = f"http://{settings.host}:{settings.port}"
        print(
            f"Ticker on {base}: news desk {base}/desk, demo page {base}/demo, "
            f"stream {base}/api/v1/stream",
            flush=True,
        )
        _run_uvicorn(settings)
    finally:
        if embedded is not None:
            embedded.stop()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The arguments of `uvicorn.run` for these settings."""
    return {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        # Always ours: it bounds request heads (size, time, keep-alive); it serves streams
        # directly only when TICKER_STREAM_FAST_PATH is on.
        "http": FAST_PATH_PROTOCOL,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    # After its graceful shutdown uvicorn raises the signal it caught again; with the
    # default SIGTERM action that kills us before the caller's `finally` stops the embedded
    # store. So SIGTERM (docker stop, systemd, Kubernetes) ends this call instead: exit 0.
    previous = signal.signal(signal.SIGTERM, _stop_serving)
    try:
        uvicorn.run(APP_FACTORY, **uvicorn_options(settings))
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stopped(Exception):
    """SIGTERM outside uvicorn's own handling: the service has stopped, or never started."""


def _stop_serving(signum: int, frame: object) -> None:
    raise _Stopped


def _prepare_multiprocess_metrics() -> None:
    """Workers write their metrics to files in one folder (removed at exit); /metrics sums them."""
    from ticker.multiprocess_metrics import prepare_folder

    prepare_folder()


@contextlib.asynccontextmanager
async def connected_store(settings: Settings) -> AsyncIterator[Store]:
    """The store on a Redis client of its own, closed afterwards: for the bootstrap and
    the one-off commands. Their timeout is at least 5 s: unlike a request handler, a
    command can wait for a busy Redis."""
    redis = api_client(settings, max(settings.redis_timeout_seconds, 5.0))
    try:
        yield open_store(redis, settings)
    finally:
        await redis.aclose()


async def _bootstrap(settings: Settings) -> None:
    """A fresh install gets the `main` channel and a first admin, printed once."""
    try:
        async with connected_store(settings) as store:
            # Several processes may start at once on an empty Redis (a deploy): only the
            # one that takes this key bootstraps, so there is one admin, printed once.
            if not await store.claim_bootstrap(str(os.getpid()), seconds=60):
                return
            if not await store.channels():
                await store.save_channel(Channel(id="main", title="الرئيسية"), actor="system")
                print("Created channel 'main'.", flush=True)
            if not await store.list_users():
                password = secrets.token_urlsafe(12)
                await store.save_user(
                    UserRecord(
                        "admin", "admin", hash_password(password), created_at=rfc3339(utc_now())
                    ),
                    actor="system",
                    audit={"action": "add", "role": "admin"},
                )
                print(
                    f"First admin login: user 'admin', password '{password}' "
                    "(shown once; change it from the desk).",
                    flush=True,
                )
    except RedisError as exc:
        where = settings.redis_sentinels or settings.redis_url
        raise StartError(f"cannot reach Redis at {where}: {exc}") from None
