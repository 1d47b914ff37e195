"""A fast path for `GET /api/v1/stream`, given to uvicorn through its own `http` setting.

Why: a stream served through ASGI costs a response object, several tasks and a
queue per connection (tens of KB and tens of µs per delivery, see
benchmarks/RESULTS.md). A breaking item goes to every open page at once, so the
fan-out is the service's hot path. Here, once a valid stream request has been
parsed, the connection is handed to a small protocol object that the fan-out
writes pre-encoded frames to directly: one `transport.write()` per delivery, no
task per connection, a few hundred bytes of state.

How: `StreamProtocol` is uvicorn's own httptools protocol with one method
extended. Every other request, and any stream request that is not plainly valid
(so that errors keep one implementation, in `ticker/routes/stream.py`), goes
through the Starlette app as usual. The fan-out reaches the protocol through the
ASGI lifespan state (`{"fanout": …}`), which uvicorn hands to every protocol.
The uvicorn versions this is tested against are pinned in pyproject.toml.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ticker import metrics
from ticker.fanout import Fanout, Subscriber
from ticker.problems import Problem
from ticker.routes.stream import parse_channels, parse_last_event_id
from ticker.sse import PING, Frame, chunk, retry_frame

STREAM_PATH = b"/api/v1/stream"
RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n"
    b"x-accel-buffering: no\r\n"
    b"access-control-allow-origin: *\r\n"
    b"transfer-encoding: chunked\r\n"
    b"\r\n"
)
END_OF_BODY = b"0\r\n\r\n"
_SHARED_CHANNEL_SETS = 4096  # channel filters are few: share one frozenset per filter


class StreamConnection(Subscriber, asyncio.Protocol):
    """A stream the fan-out writes to directly; the transport's buffer is its queue.

    It is dropped when more than `limit` bytes of live events wait in user space
    (beyond a replay still draining): the kernel's socket buffer is already full
    by then, so the reader has truly stopped keeping up.
    """

    __slots__ = ("base", "fanout", "limit", "transport")
    direct = True

    def __init__(
        self,
        transport: asyncio.Transport,
        fanout: Fanout,
        channels: frozenset[str] | None,
        limit: int,
    ) -> None:
        super().__init__(channels)
        self.transport = transport
        self.fanout = fanout
        self.limit = limit
        self.base = 0

    # Subscriber

    def write(self, frame: Frame) -> None:
        transport = self.transport
        transport.write(frame.chunk)
        size = transport.get_write_buffer_size()
        if size > self.base + self.limit:
            self.drop()
        elif size < self.base:
            self.base = size  # the replay is draining

    def write_many(self, frames: list[Frame]) -> None:
        self.transport.write(chunk(b"".join(frame.raw for frame in frames)))
        self.base = self.transport.get_write_buffer_size()

    def ping(self) -> None:
        if not self.dropped and self.held is None:
            self.write(PING)

    def drop(self) -> None:
        self.dropped = True
        metrics.dropped.inc()
        self.transport.abort()  # its client resumes from the last event it got

    def close(self, retry_ms: int) -> None:
        """End the stream cleanly, asking the client to come back after `retry_ms`."""
        if not self.dropped:
            self.dropped = True
            self.transport.write(chunk(b"retry: %d\n\n" % retry_ms) + END_OF_BODY)
            self.transport.close()

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        pass  # a stream's client has nothing more to say; ignore anything it sends

    def eof_received(self) -> bool | None:
        return None  # the client went away: let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.dropped = True
        self.fanout.unsubscribe(self)


class StreamProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; valid stream requests take the fast path."""

    _streaming = False
    _channel_sets: dict[str, frozenset[str] | None] = {}  # noqa: RUF012 (shared on purpose)

    def on_headers_complete(self) -> None:
        if self._streaming:
            return
        fanout = self.app_state.get("fanout")
        if isinstance(fanout, Fanout) and fanout.ready.is_set() and self._is_stream_request():
            request = self._parse(fanout)
            if request is not None:
                self._start_stream(fanout, *request)
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._streaming:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._streaming:
            super().on_message_complete()

    def _is_stream_request(self) -> bool:
        parser = self.parser
        return (
            parser.get_method() == b"GET"
            and parser.get_http_version() == "1.1"
            and not parser.should_upgrade()
            and httptools.parse_url(self.url).path == STREAM_PATH
        )

    def _parse(self, fanout: Fanout) -> tuple[frozenset[str] | None, Any] | None:
        """(channels, after) for a valid request on channels this process knows; None
        sends the request the ordinary way, which answers errors and rarer cases."""
        query = (httptools.parse_url(self.url).query or b"").decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True))
        header = next((v for k, v in self.headers if k == b"last-event-id"), None)
        try:
            channels = self._shared_channels(params.get("channels"))
            after = parse_last_event_id(
                header.decode("latin-1") if header is not None else None,
                params.get("last_event_id"),
            )
        except Problem:
            return None
        if channels is not None and not channels <= fanout.channels.keys():
            return None
        return channels, after

    def _shared_channels(self, raw: str | None) -> frozenset[str] | None:
        cache = StreamProtocol._channel_sets
        key = raw or ""
        if key not in cache:
            if len(cache) >= _SHARED_CHANNEL_SETS:
                cache.clear()
            cache[key] = parse_channels(raw)
        return cache[key]

    def _start_stream(self, fanout: Fanout, channels: frozenset[str] | None, after: Any) -> None:
        settings = fanout.settings
        self._streaming = True
        # From here on the connection is the fan-out's, not uvicorn's.
        self.connections.discard(self)
        connection = StreamConnection(self.transport, fanout, channels, settings.subscriber_buffer)
        self.transport.set_protocol(connection)
        self.transport.write(RESPONSE_HEAD + chunk(retry_frame(settings.retry_ms)))
        resuming = fanout.subscribe(connection, after)
        if resuming is not None:
            fanout.run_soon(resuming)
