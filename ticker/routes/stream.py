"""`GET /api/v1/stream`: server-sent events for browsers and monitors (API.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ticker.fanout import Fanout, QueueSubscriber
from ticker.model import CHANNEL_ID, EventId, parse_event_id
from ticker.problems import Problem
from ticker.routes.common import PUBLIC_HEADERS, services
from ticker.sse import farewell_retry_ms, retry_frame

FAREWELL_GRACE_SECONDS = 1.0  # well inside `ticker serve`'s 5 s graceful shutdown
STREAM_HEADERS = {**PUBLIC_HEADERS, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def stream(request: Request) -> Response:
    svc = services(request)
    fanout = svc.fanout
    if not fanout.ready.is_set():
        raise Problem(
            503,
            "The stream is starting and cannot read its database (Redis) yet; retry shortly.",
            headers={"Retry-After": "2"},
        )
    channels = await _channels(request, fanout)
    after = parse_last_event_id(
        request.headers.get("last-event-id"), request.query_params.get("last_event_id")
    )
    settings = svc.settings
    shutdown = anyio.Event()  # set by sse-starlette when the server begins to stop

    async def farewell(sub: QueueSubscriber) -> None:
        # Like the fast path: ask the client to come back after a random delay.
        await shutdown.wait()
        sub.close(farewell_retry_ms(settings.retry_ms))

    async def frames() -> AsyncIterator[bytes]:
        # Subscribing here, inside the body, ties the subscription to the response's
        # life: the `finally` runs however the connection ends.
        sub = QueueSubscriber(channels, settings.subscriber_buffer)
        watcher = asyncio.create_task(farewell(sub))
        resuming = fanout.subscribe(sub, after)
        try:
            if resuming is not None:
                await resuming
            yield retry_frame(settings.retry_ms)
            while True:
                chunk = await sub.next_chunk()
                if chunk is None:
                    return  # too far behind: the client reconnects with its last id
                yield chunk
        finally:
            watcher.cancel()
            fanout.unsubscribe(sub)

    return EventSourceResponse(
        frames(),
        headers=STREAM_HEADERS,
        ping=settings.ping_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="ping", sep="\n"),
        sep="\n",  # the same line end as our own frames
        send_timeout=settings.send_timeout_seconds,
        shutdown_event=shutdown,
        shutdown_grace_period=FAREWELL_GRACE_SECONDS,
    )


async def preflight(request: Request) -> Response:
    # EventSource sends Last-Event-ID on reconnects; let any origin do so.
    return Response(
        status_code=204,
        headers={
            **PUBLIC_HEADERS,
            "Access-Control-Allow-Methods": "GET",
            "Access-Control-Allow-Headers": "Last-Event-ID, Cache-Control",
            "Access-Control-Max-Age": "86400",
        },
    )


def parse_channels(raw: str | None) -> frozenset[str] | None:
    """The `channels` parameter: None for every channel; 400 for a malformed id."""
    if raw is None or raw.strip() == "":
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    bad = [name for name in names if not CHANNEL_ID.match(name)]
    if bad:
        raise Problem(400, f"'{bad[0]}' is not a channel id (lower-case letters, digits, dashes).")
    return frozenset(names)


def parse_last_event_id(header: str | None, query: str | None) -> EventId | None:
    """Where to resume: the Last-Event-ID header (a reconnecting EventSource), else the
    `last_event_id` parameter (a first connection); 400 when malformed."""
    raw = header if header is not None and header.strip() else query
    if raw is None or raw.strip() == "":
        return None
    try:
        return parse_event_id(raw.strip())
    except ValueError:
        raise Problem(
            400,
            f"The last event id {raw.strip()!r} is malformed: it must look like "
            "'1764451860000-0' (<milliseconds>-<sequence>), as sent in the stream's id: lines.",
            title="Malformed event id",
        ) from None


async def _channels(request: Request, fanout: Fanout) -> frozenset[str] | None:
    names = parse_channels(request.query_params.get("channels"))
    if names is None:
        return None
    # A channel made a moment ago may not have reached this process's reader yet:
    # ask Redis about names the fan-out does not know (rare, so not a per-reader cost).
    store = services(request).store
    unknown = [
        n for n in sorted(names) if n not in fanout.channels and not await store.get_channel(n)
    ]
    if unknown:
        raise Problem(404, f"There is no channel '{unknown[0]}'. GET /api/v1/channels lists them.")
    return names


routes = [
    Route("/api/v1/stream", stream, methods=["GET"]),
    Route("/api/v1/stream", preflight, methods=["OPTIONS"]),
]
