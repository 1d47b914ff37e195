"""The Starlette app and its lifespan: Redis clients, the fan-out and the scheduler."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ticker import logs, metrics, openapi
from ticker.config import ConfigError, Settings
from ticker.fanout import BLOCK_MS, Fanout
from ticker.hosts import HostCheck
from ticker.nosniff import NoSniff
from ticker.problems import Problem, redis_unavailable
from ticker.routes import api, desk, embed, feeds, live, ops, stream
from ticker.routes.common import Services
from ticker.scheduler import Scheduler
from ticker.store import NotReplicated, api_client, open_store, reader_client

log = logging.getLogger("ticker")


def create_app(settings: Settings) -> Starlette:
    if not settings.redis_url and not settings.redis_sentinels:
        raise ConfigError("create_app needs REDIS_URL or REDIS_SENTINELS (ticker serve sets it).")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        redis = api_client(settings)
        store = open_store(redis, settings)
        fanout = Fanout(
            open_store(reader_client(settings, BLOCK_MS), settings),
            reader_client(settings, BLOCK_MS),
            settings,
        )
        scheduler = Scheduler(
            store,
            settings.expire_interval_seconds,
            settings.trim_interval_seconds,
            settings.retention_seconds,
        )
        app.state.services = Services(settings, store, fanout, scheduler)
        fanout.start()
        scheduler.start()
        # What exists now lives as long as the process: take it out of the cyclic
        # collector's sight, so that its full collections (which thousands of
        # connections set off) walk only what came later: ~15 ms less each.
        gc.collect()
        gc.freeze()
        try:
            # The lifespan state reaches uvicorn's protocols: ticker/fastpath.py uses it.
            yield {"fanout": fanout}
        finally:
            scheduler.stop()
            await fanout.stop()
            await fanout.store.redis.aclose()
            await redis.aclose()

    return Starlette(
        routes=[
            *api.routes,
            *stream.routes,
            *embed.routes,
            *live.routes,
            *feeds.routes,
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
