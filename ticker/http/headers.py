"""Headers that several kinds of response share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["PUBLIC_HEADERS", "preflight"]

# Public data (the API's reads, feeds, the widget's assets): any origin's scripts may read it.
PUBLIC_HEADERS = {"Access-Control-Allow-Origin": "*"}


def preflight(methods: str, headers: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint that answers a CORS preflight for a public resource: any origin may
    use `methods` with `headers`, and browsers keep the answer for a day."""
    answer = {
        **PUBLIC_HEADERS,
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": headers,
        "Access-Control-Max-Age": "86400",
    }

    async def endpoint(request: Request) -> Response:
        return Response(status_code=204, headers=answer)

    return endpoint
