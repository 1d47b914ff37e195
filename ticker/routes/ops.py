"""Health and readiness for load balancers and orchestrators (docs/api.md, "Operations").

Three questions, three answers: `/healthz` is the process alive,
`/readyz` can it serve streams, `/healthz/redis` can it reach Redis. Readiness does not
depend on Redis: open streams go on from memory while Redis is away, so taking every
process out of the balancer at the same time because Redis blinked would help no one.
"""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ticker.fanout import redis_up
from ticker.services import services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready: the fan-out has loaded the stream and its reader runs (following the log,
    or reconnecting to Redis: then streams are served from memory and catch up later)."""
    svc = services(request)
    fanout = svc.fanout
    ready = fanout.serving
    body = {
        "status": "ok" if ready else "starting",
        "stream": "ready" if ready else "starting",
        "reader": "following" if fanout.following else "reconnecting",
        "redis": await _redis_state(request),
        "epoch": fanout.epoch,
        "position": fanout.head_id,
        "subscribers": fanout.subscriber_count,
        "direct_subscribers": sum(s.direct for s in fanout.subscribers()),
    }
    return JSONResponse(
        body,
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": "2"},
    )


async def redis_health(request: Request) -> Response:
    """Redis, as the API sees it: 503 while it cannot be reached (publishing fails)."""
    state = await _redis_state(request)
    if state == "ok":
        return JSONResponse({"status": "ok", "redis": "ok"})
    return JSONResponse(
        {"status": "unavailable", "redis": state},
        status_code=503,
        headers={"Retry-After": "2"},
    )


async def _redis_state(request: Request) -> str:
    try:
        await services(request).store.ping()
    except (RedisError, OSError) as exc:
        redis_up.set(0)
        return f"unreachable: {exc}"
    redis_up.set(1)
    return "ok"


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/healthz/redis", redis_health, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
