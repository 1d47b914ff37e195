"""Health and readiness for load balancers and orchestrators (API.md, "Operations")."""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ticker.routes.common import services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    svc = services(request)
    try:
        await svc.store.redis.ping()
    except (RedisError, OSError) as exc:
        return JSONResponse(
            {"status": "unavailable", "redis": f"unreachable: {exc}"},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    ready = svc.fanout.ready.is_set()
    # Not ready until the stream has loaded its state: a balancer must not send streams yet.
    return JSONResponse(
        {
            "status": "ok" if ready else "starting",
            "redis": "ok",
            "stream": "ready" if ready else "starting",
            "subscribers": svc.fanout.subscriber_count,
            "direct_subscribers": sum(s.direct for s in svc.fanout.subscribers()),
        },
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": "2"},
    )


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
