"""`GET /api/v1/stream`: server-sent events for browsers and monitors (docs/api.md).

The transport lives in ticker/stream/; here is only its route. Most streams never
reach it: the fast path (ticker/stream/fastpath.py) answers them before the app.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ticker.http import preflight
from ticker.services import services
from ticker.stream.asgi import stream_response


async def stream(request: Request) -> Response:
    svc = services(request)
    return await stream_response(request, svc.fanout, svc.store, svc.settings)


routes = [
    Route("/api/v1/stream", stream, methods=["GET"]),
    # EventSource sends Last-Event-ID on reconnects; let any origin do so.
    Route(
        "/api/v1/stream",
        preflight("GET", "Last-Event-ID, Cache-Control"),
        methods=["OPTIONS"],
    ),
]
