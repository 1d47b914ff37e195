"""The Starlette app and its lifespan: Redis clients, the fan-out, the scheduler and the
desk's sessions, handed to every request as lifespan state (ticker/services.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ticker import logs, metrics, openapi
from ticker.auth.sessions import Sessions
from ticker.broker import redis_broker
from ticker.config import ConfigError, Settings
from ticker.fanout import Fanout, StartupError
from ticker.heartbeat import Heartbeat
from ticker.hosts import HostCheck
from ticker.nosniff import NoSniff
from ticker.problems import Problem, redis_unavailable
from ticker.routes import api, beacon, desk, embed, feeds, live, ops, status, stream
from ticker.scheduler import Scheduler
from ticker.services import lifespan_state
from ticker.store import NotReplicated, api_client, open_store

log = logging.getLogger("ticker")


def create_app(settings: Settings) -> Starlette:
    if not settings.redis_url and not settings.redis_sentinels:
        raise ConfigError("create_app needs REDIS_URL or REDIS_SENTINELS (ticker serve sets it).")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        store = open_store(api_client(settings), settings)
        fanout = Fanout(redis_broker(settings), settings)
        scheduler = Scheduler(
            store,
            settings.expire_interval_seconds,
            settings.trim_interval_seconds,
            settings.retention_seconds,
        )
        state = lifespan_state(
            settings=settings,
            store=store,
            fanout=fanout,
            scheduler=scheduler,
            sessions=Sessions(store, settings),
        )
        fanout.start()
        # Serve nothing before the stream has loaded: uvicorn accepts no
        # connection until the lifespan has started, so neither the fast path nor the
        # app can answer a stream with "starting". Past the limit, exit with why.
        try:
            await _wait_for_stream(fanout, settings.startup_timeout_seconds)
        except StartupError as exc:
            log.error("%s", exc)
            await fanout.stop()
            await store.close()
            raise
        scheduler.start()
        # This process in the fleet's status view, and its reach counts.
        heartbeat = Heartbeat(store, fanout, settings.heartbeat_seconds)
        heartbeat.start()
        # What exists now lives as long as the process: take it out of the cyclic
        # collector's sight, so that its full collections (which thousands of
        # connections set off) walk only what came later: ~15 ms less each.
        gc.collect()
        gc.freeze()
        try:
            # Starlette copies the lifespan state into every request (`request.state`),
            # and uvicorn hands it to its protocols: ticker/stream/fastpath.py reads "fanout".
            yield state
        finally:
            await heartbeat.stop()  # first: its last counts and its goodbye need Redis
            scheduler.stop()
            await fanout.stop()
            await store.close()

    return Starlette(
        routes=[
            *api.routes,
            *stream.routes,
            *beacon.routes,
            *embed.routes,
            *live.routes,
            *feeds.routes,
            *status.routes,
            *desk.routes,
            *ops.routes,
            *metrics.routes,
            *openapi.routes,
        ],
        lifespan=lifespan,
        # Outermost first: every response is logged (a refused Host and a crash too) and
        # carries nosniff; the Host is checked before any route runs.
        middleware=[
            Middleware(logs.AccessLog),
            Middleware(NoSniff),
            Middleware(HostCheck, settings=settings),
        ],
        exception_handlers={
            Problem: _problem,
            NotReplicated: _not_replicated,
            HTTPException: _http_error,
            RedisError: _redis_error,
            ConnectionError: _redis_error,
        },
    )


async def _wait_for_stream(fanout: Fanout, seconds: float) -> None:
    """The fan-out's first load, bounded; a Ctrl-C or SIGTERM meanwhile ends the wait at
    once instead of after the whole timeout."""
    loading = asyncio.ensure_future(fanout.wait_ready(seconds))
    try:
        while not loading.done():
            await asyncio.wait([loading], timeout=0.1)
            if _server_stopping():
                raise StartupError(
                    "Stopped by a signal before the stream had loaded its state from Redis."
                )
        loading.result()
    finally:
        loading.cancel()


def _server_stopping() -> bool:
    """Whether uvicorn has been told to stop. Its signal handler is a method of its
    Server, installed before the lifespan starts (sse-starlette finds it the same way)."""
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


def create_app_from_env() -> Starlette:
    """The factory uvicorn workers import (`ticker serve --workers N`)."""
    settings = Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        detail = f"Nothing here: {request.url.path}."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    else:
        detail = str(exc.detail)
    return Problem(exc.status_code, detail, headers=exc.headers).response()


async def _not_replicated(request: Request, exc: Exception) -> Response:
    log.warning(
        "change not confirmed by replicas on %s %s: %s", request.method, request.url.path, exc
    )
    metrics.redis_errors.labels("replication").inc()
    return Problem(
        503,
        "The change reached the primary Redis but no replica confirmed it in time, so it is "
        "not acknowledged. Retry with the same Idempotency-Key: it will not publish twice.",
        headers={"Retry-After": "1"},
    ).response()


async def _redis_error(request: Request, exc: Exception) -> Response:
    log.warning("Redis error on %s %s: %s", request.method, request.url.path, exc)
    metrics.redis_errors.labels("api").inc()
    return redis_unavailable().response()
