"""The ASGI path of `GET /api/v1/stream`: a Starlette response fed by the fan-out.

It serves what the fast path (ticker/stream/fastpath.py) leaves to the app: HTTP/1.0
and HTTP/2 clients behind a proxy, `TICKER_STREAM_FAST_PATH=false`, and every error
(a malformed request, an unknown channel, a full or starting server). The route
itself is in ticker/routes/stream.py, which hands this the process's services.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import anyio
from redis.exceptions import RedisError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from ticker import metrics
from ticker.config import Settings
from ticker.fanout import Fanout
from ticker.frames import farewell_retry_ms, retry_frame
from ticker.model import parse_event_id
from ticker.problems import Problem
from ticker.store import Store
from ticker.stream import sockets
from ticker.stream.request import parse_channels, parse_last_event_id
from ticker.stream.subscriber import QueueSubscriber

FAREWELL_GRACE_SECONDS = 1.0  # well inside `ticker serve`'s 5 s graceful shutdown
# The fast path's RESPONSE_HEAD (ticker/stream/subscriber.py) sends the same headers, and
# nosniff, which the app's NoSniff middleware adds to every response here.
STREAM_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
CATCH_UP_SECONDS = 1.0  # how long a stream naming a brand-new channel waits for the reader
# The connection's transport, put in the scope by the fast path's protocol, so that
# what waits there counts against the subscriber's buffer and a stuck reader is reset.
TRANSPORT_EXTENSION = "ticker.transport"


async def stream_response(
    request: Request, fanout: Fanout, store: Store, settings: Settings
) -> Response:
    """The stream for `request`, or a Problem (503 starting or full, 400, 404)."""
    if not fanout.ready.is_set():
        raise Problem(
            503,
            "The stream is starting and cannot read its database (Redis) yet; retry shortly.",
            headers={"Retry-After": "2"},
        )
    if fanout.subscriber_count >= settings.max_streams:
        raise too_many_streams(settings)
    channels = await _channels(request, fanout, store)
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
        metrics.child(metrics.stream_connects, "asgi").inc()
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
        except Exception:
            sub.end("error")
            raise
        finally:
            watcher.cancel()
            fanout.unsubscribe(sub)
            if not ended and transport is not None and transport.get_write_buffer_size():
                sockets.abort(transport)  # a write timed out: the reader is stuck
                sub.end("dropped_slow")
            sub.end("client")  # the client went away (unless it had ended already)

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


def too_many_streams(settings: Settings) -> Problem:
    # Spread the clients that are turned away, so that they do not all return at once.
    retry_after = -(-farewell_retry_ms(settings.retry_ms) // 1000)
    return Problem(
        503,
        f"This server already has its maximum of {settings.max_streams} open streams; "
        f"retry in {retry_after} s (another server may have room).",
        headers={"Retry-After": str(retry_after)},
    )


async def _channels(request: Request, fanout: Fanout, store: Store) -> frozenset[str] | None:
    """The channels asked for, each one the fan-out knows; 404 names the first unknown."""
    names = parse_channels(request.query_params.get("channels"))
    if names is None:
        return None
    if not names <= fanout.channels.keys():
        await _catch_up(fanout, store)
    unknown = sorted(names - fanout.channels.keys())
    if unknown:
        raise Problem(404, f"There is no channel '{unknown[0]}'. GET /api/v1/channels lists them.")
    return names


async def _catch_up(fanout: Fanout, store: Store) -> None:
    """Wait (briefly) until the fan-out has read the log as far as Redis has it: a channel
    made a moment ago may not have reached this process's reader yet. One Redis call per
    request, whatever the number of names (never one per name)."""
    try:
        head = parse_event_id(await store.head())
    except (RedisError, OSError):
        return  # answer from memory
    deadline = time.monotonic() + CATCH_UP_SECONDS
    # The fan-out signals no head moves (and this is rare and short): poll.
    while fanout.head < head and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
