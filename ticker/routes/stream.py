"""`GET /api/v1/stream`: server-sent events for browsers and monitors (API.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import anyio
from redis.exceptions import RedisError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ticker import sockets
from ticker.config import Settings
from ticker.fanout import Fanout, QueueSubscriber
from ticker.model import CHANNEL_ID, EventId, FieldError, parse_event_id
from ticker.problems import Problem
from ticker.routes.common import PUBLIC_HEADERS, services
from ticker.sse import farewell_retry_ms, retry_frame

FAREWELL_GRACE_SECONDS = 1.0  # well inside `ticker serve`'s 5 s graceful shutdown
STREAM_HEADERS = {
    **PUBLIC_HEADERS,
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "X-Content-Type-Options": "nosniff",
}
MAX_CHANNELS = 32  # distinct channels of one stream (docs/api.md)
CATCH_UP_SECONDS = 1.0  # how long a stream naming a brand-new channel waits for the reader
# The connection's transport, put in the scope by ticker/fastpath.py's protocol, so that
# what waits there counts against the subscriber's buffer and a stuck reader is reset.
TRANSPORT_EXTENSION = "ticker.transport"


async def stream(request: Request) -> Response:
    svc = services(request)
    fanout = svc.fanout
    settings = svc.settings
    if not fanout.ready.is_set():
        raise Problem(
            503,
            "The stream is starting and cannot read its database (Redis) yet; retry shortly.",
            headers={"Retry-After": "2"},
        )
    if fanout.subscriber_count >= settings.max_streams:
        raise too_many_streams(settings)
    channels = await _channels(request, fanout)
    after = parse_last_event_id(
        request.headers.get("last-event-id"), request.query_params.get("last_event_id")
    )
    transport = request.scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
    shutdown = anyio.Event()  # set by sse-starlette when the server begins to stop

    async def farewell(sub: QueueSubscriber) -> None:
        # Like the fast path: ask the client to come back after a random delay.
        await shutdown.wait()
        sub.close(farewell_retry_ms(settings.retry_ms))

    async def frames() -> AsyncIterator[bytes]:
        # Subscribing here, inside the body, ties the subscription to the response's
        # life: the `finally` runs however the connection ends.
        sub = QueueSubscriber(channels, settings.subscriber_buffer, transport)
        watcher = asyncio.create_task(farewell(sub))
        resuming = fanout.subscribe(sub, after)
        ended = False
        try:
            if resuming is not None:
                await resuming
            yield retry_frame(settings.retry_ms)
            while True:
                chunk = await sub.next_chunk()
                if chunk is None:
                    ended = True  # dropped (reset already) or closed with a farewell
                    return
                yield chunk
        finally:
            watcher.cancel()
            fanout.unsubscribe(sub)
            if not ended and transport is not None and transport.get_write_buffer_size():
                sockets.abort(transport)  # a write timed out: the reader is stuck

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
    """The `channels` parameter: None for every channel; 400 for a malformed id or more
    than `MAX_CHANNELS` distinct names (duplicates count once). The count is checked
    first, so that a huge list costs one split, not a match per name."""
    if raw is None or raw.strip() == "":
        return None
    names = list(dict.fromkeys(name.strip() for name in raw.split(",")))
    names = [name for name in names if name]
    if len(names) > MAX_CHANNELS:
        message = f"at most {MAX_CHANNELS} distinct channel ids, not {len(names)}"
        raise Problem(
            400,
            f"A stream follows at most {MAX_CHANNELS} channels; this one names {len(names)}. "
            "Leave out `channels` to follow every channel, or open several streams.",
            title="Too many channels",
            errors=[FieldError("channels", message)],
        )
    bad = [name for name in names if not CHANNEL_ID.match(name)]
    if bad:
        raise Problem(
            400,
            f"'{bad[0]}' is not a channel id (lower-case letters, digits, dashes).",
            errors=[FieldError("channels", f"'{bad[0]}' is not a channel id")],
        )
    return frozenset(names)


def too_many_streams(settings: Settings) -> Problem:
    # Spread the clients that are turned away, so that they do not all return at once.
    retry_after = -(-farewell_retry_ms(settings.retry_ms) // 1000)
    return Problem(
        503,
        f"This server already has its maximum of {settings.max_streams} open streams; "
        f"retry in {retry_after} s (another server may have room).",
        headers={"Retry-After": str(retry_after)},
    )


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
    """The channels asked for, each one the fan-out knows; 404 names the first unknown."""
    names = parse_channels(request.query_params.get("channels"))
    if names is None:
        return None
    if not names <= fanout.channels.keys():
        await _catch_up(request, fanout)
    unknown = sorted(names - fanout.channels.keys())
    if unknown:
        raise Problem(404, f"There is no channel '{unknown[0]}'. GET /api/v1/channels lists them.")
    return names


async def _catch_up(request: Request, fanout: Fanout) -> None:
    """Wait (briefly) until the fan-out has read the log as far as Redis has it: a channel
    made a moment ago may not have reached this process's reader yet. One Redis call per
    request, whatever the number of names (issue 12, finding 1: never one per name)."""
    try:
        head = parse_event_id(await services(request).store.head())
    except (RedisError, OSError):
        return  # answer from memory
    deadline = time.monotonic() + CATCH_UP_SECONDS
    # The fan-out signals no head moves (and this is rare and short): poll.
    while fanout.head < head and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


routes = [
    Route("/api/v1/stream", stream, methods=["GET"]),
    Route("/api/v1/stream", preflight, methods=["OPTIONS"]),
]
