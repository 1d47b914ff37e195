"""A fast path for `GET /api/v1/stream`, given to uvicorn through its own `http` setting.

Why: a stream served through ASGI costs a response object, several tasks and a
queue per connection (tens of KB and tens of µs per delivery, see
benchmarks/RESULTS.md). A breaking item goes to every open page at once, and
after a deploy every page reconnects at once, so both the fan-out and the
connect are the service's hot paths. Here a valid stream request becomes a small
protocol object that the fan-out writes pre-encoded frames to directly: one
`transport.write()` per delivery, no task per connection, a few hundred bytes of
state.

How: every new connection starts as a `StreamProtocol`, which only reads the
first request's head. A plainly valid stream request becomes a
`StreamConnection` at once, without ever building uvicorn's per-connection
state (its parser, address lookups and scope: about half of a connect's CPU).
Anything else is handed, bytes and all, to `HttpProtocol`: uvicorn's own
httptools protocol, extended so that a stream request arriving later on a
kept-alive connection takes the fast path too. Errors and rarer cases go
through the Starlette app, so they keep one implementation, in
`ticker/routes/stream.py`. The fan-out reaches both through the ASGI lifespan
state (`{"fanout": …}`), which uvicorn hands to every protocol. The uvicorn
versions this is tested against are pinned in pyproject.toml.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ticker import metrics
from ticker.fanout import EventId, Fanout, Subscriber
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
FIRST_REQUEST_START = b"GET " + STREAM_PATH
MAX_FIRST_HEAD = 16 * 1024  # a longer first head goes the ordinary way
_CACHED_URLS = 4096
_CACHED_URL_MAX = 512  # bytes: longer URLs are parsed every time


class StreamConnection(Subscriber, asyncio.Protocol):
    """A stream the fan-out writes to directly; the transport's buffer is its queue.

    It is dropped when more than `limit` bytes of live events wait in user space
    (beyond a replay still draining): the kernel's socket buffer is already full
    by then, so the reader has truly stopped keeping up.
    """

    __slots__ = ("base", "fanout", "limit", "preamble", "transport")
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
        # The response head and `retry:`, sent with the first frames in one write.
        self.preamble = RESPONSE_HEAD + chunk(retry_frame(fanout.settings.retry_ms))

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
        data = chunk(b"".join(frame.raw for frame in frames))
        if self.preamble:
            data, self.preamble = self.preamble + data, b""
        self.transport.write(data)
        self.base = self.transport.get_write_buffer_size()

    def start(self, after: EventId | None) -> None:
        """Subscribe, sending the response head with the replay or resets (if any)."""
        fanout = self.fanout
        resuming = fanout.subscribe(self, after)
        if self.preamble:  # nothing was written yet: live writes must find it sent
            self.transport.write(self.preamble)
            self.preamble = b""
        if resuming is not None:
            fanout.run_soon(resuming)

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


def stream_request(
    fanout: Fanout, url: bytes, last_event_id: bytes | None
) -> tuple[frozenset[str] | None, EventId | None] | None:
    """(channels, after) for a valid stream request on channels this process knows;
    None sends the request the ordinary way, which answers errors and rarer cases."""
    target = _stream_target(url)
    if target is None:
        return None
    channels, query_after = target
    try:
        after = parse_last_event_id(
            last_event_id.decode("latin-1") if last_event_id is not None else None, query_after
        )
    except Problem:
        return None
    if channels is not None and not channels <= fanout.channels.keys():
        return None
    return channels, after


_targets: dict[bytes, tuple[frozenset[str] | None, str | None] | None] = {}


def _stream_target(url: bytes) -> tuple[frozenset[str] | None, str | None] | None:
    """A stream URL's channel filter and `last_event_id` parameter; None if it is not a
    valid stream URL. Parsed once per URL: the pages of a site share a few, and every
    stream with the same filter shares one frozenset."""
    if url in _targets:
        return _targets[url]
    try:
        parsed = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        return None
    target = None
    if parsed.path == STREAM_PATH:
        query = (parsed.query or b"").decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            target = parse_channels(params.get("channels")), params.get("last_event_id")
        except Problem:
            pass
    if len(url) <= _CACHED_URL_MAX:
        if len(_targets) >= _CACHED_URLS:
            _targets.clear()
        _targets[url] = target
    return target


def _plain_get(parser: httptools.HttpRequestParser) -> bool:
    """A GET over HTTP/1.1 that asks for no upgrade: the only kind streamed directly."""
    return (
        parser.get_method() == b"GET"
        and parser.get_http_version() == "1.1"
        and not parser.should_upgrade()
    )


def _ready_fanout(app_state: dict[str, Any]) -> Fanout | None:
    fanout = app_state.get("fanout")
    return fanout if isinstance(fanout, Fanout) and fanout.ready.is_set() else None


def start_stream(
    transport: asyncio.Transport,
    fanout: Fanout,
    channels: frozenset[str] | None,
    after: EventId | None,
) -> None:
    """From here on the connection is the fan-out's, not uvicorn's."""
    connection = StreamConnection(transport, fanout, channels, fanout.settings.subscriber_buffer)
    transport.set_protocol(connection)
    connection.start(after)


class StreamProtocol(asyncio.Protocol):
    """Where every connection starts: reads the first request's head, no more.

    A plainly valid `GET /api/v1/stream` becomes a `StreamConnection`; anything
    else (another path, a method, HTTP/1.0, an upgrade, a malformed or very long
    head) is handed with every byte received to `HttpProtocol`, which is uvicorn's.
    """

    __slots__ = (
        "app_state",
        "config",
        "last_event_id",
        "loop",
        "received",
        "server_state",
        "transport",
        "url",
    )
    transport: asyncio.Transport

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop
        self.received = b""
        self.url = b""
        self.last_event_id: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        received = self.received + data if self.received else data
        if not (
            received.startswith(FIRST_REQUEST_START) or FIRST_REQUEST_START.startswith(received)
        ):
            self._hand_over(received)
            return
        end = received.find(b"\r\n\r\n")
        if end < 0:
            if len(received) > MAX_FIRST_HEAD:
                self._hand_over(received)
            else:
                self.received = received  # the head is still arriving
            return
        fanout = _ready_fanout(self.app_state)
        request = self._parse_head(fanout, received[: end + 4]) if fanout is not None else None
        if fanout is None or request is None:
            self._hand_over(received)
            return
        self.received = b""
        start_stream(self.transport, fanout, *request)

    def eof_received(self) -> bool | None:
        return None  # the client left before finishing a request: close

    def _parse_head(
        self, fanout: Fanout, head: bytes
    ) -> tuple[frozenset[str] | None, EventId | None] | None:
        parser = httptools.HttpRequestParser(self)  # calls on_url and on_header
        try:
            parser.feed_data(head)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return None
        if not _plain_get(parser):
            return None
        return stream_request(fanout, self.url, self.last_event_id)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.last_event_id is None and name.lower() == b"last-event-id":
            self.last_event_id = value

    def _hand_over(self, received: bytes) -> None:
        self.received = b""
        protocol = HttpProtocol(
            config=self.config,
            server_state=self.server_state,
            app_state=self.app_state,
            _loop=self.loop,
        )
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        protocol.data_received(received)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a stream request later on the connection still
    takes the fast path."""

    _streaming = False

    def on_headers_complete(self) -> None:
        if self._streaming:
            return
        fanout = _ready_fanout(self.app_state)
        if fanout is not None and _plain_get(self.parser):
            header = next((v for k, v in self.headers if k == b"last-event-id"), None)
            request = stream_request(fanout, self.url, header)
            if request is not None:
                self._streaming = True
                self.connections.discard(self)
                start_stream(self.transport, fanout, *request)
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._streaming:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._streaming:
            super().on_message_complete()
