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
kept-alive connection takes the fast path too, and bounded like the first
request: uvicorn limits neither the size of a head nor the time it takes to
arrive, so both protocols answer 431 past
`TICKER_MAX_HEAD_BYTES` and 408 past `TICKER_HEAD_TIMEOUT` (ticker/stream/heads.py).
Errors and rarer cases go through the Starlette app, so they keep one
implementation, in ticker/stream/asgi.py. The fan-out reaches both through the ASGI lifespan
state (`{"fanout": …}`), which uvicorn hands to every protocol. The uvicorn
versions this is tested against are pinned in pyproject.toml.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast
from urllib.parse import parse_qsl

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ticker.config import Settings
from ticker.fanout import Fanout
from ticker.model import EventId
from ticker.problems import Problem
from ticker.stream import heads, sockets
from ticker.stream.asgi import TRANSPORT_EXTENSION
from ticker.stream.request import parse_channels, parse_last_event_id
from ticker.stream.subscriber import STREAM_PATH, StreamConnection

FIRST_REQUEST_START = b"GET " + STREAM_PATH
_CACHED_URLS = 4096
_CACHED_URL_MAX = 512  # bytes: longer URLs are parsed every time
_DEFAULTS = Settings()  # before the app's lifespan has run (never, in practice)


def _settings(app_state: dict[str, Any]) -> Settings:
    fanout = app_state.get("fanout")
    return fanout.settings if isinstance(fanout, Fanout) else _DEFAULTS


def stream_request(
    fanout: Fanout, url: bytes, last_event_id: bytes | None
) -> tuple[frozenset[str] | None, EventId | None] | None:
    """(channels, after) for a valid stream request on channels this process knows, with
    room for one more stream; None sends the request the ordinary way, which answers
    errors and rarer cases."""
    target = _stream_target(url)
    if target is None or fanout.subscriber_count >= fanout.settings.max_streams:
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
    if isinstance(fanout, Fanout) and fanout.ready.is_set() and fanout.settings.stream_fast_path:
        return fanout
    return None


def start_stream(
    transport: asyncio.Transport,
    fanout: Fanout,
    channels: frozenset[str] | None,
    after: EventId | None,
) -> None:
    """From here on the connection is the fan-out's, not uvicorn's."""
    settings = fanout.settings
    sockets.cap_send_buffer(transport, settings.stream_send_buffer)
    connection = StreamConnection(transport, fanout, channels, settings.subscriber_buffer)
    transport.set_protocol(connection)
    connection.start(after)


class StreamProtocol(asyncio.Protocol):
    """Where every connection starts: reads the first request's head, no more.

    A plainly valid `GET /api/v1/stream` becomes a `StreamConnection`; anything
    else (another path, a method, HTTP/1.0, an upgrade, a malformed head) is handed
    with every byte received to `HttpProtocol`, which is uvicorn's. A head larger
    than `TICKER_MAX_HEAD_BYTES` gets 431, one slower than `TICKER_HEAD_TIMEOUT` 408
    (from the connection's start: handing over does not restart the clock).
    """

    __slots__ = (
        "app_state",
        "config",
        "deadline",
        "last_event_id",
        "loop",
        "received",
        "server_state",
        "settings",
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
        self.settings = _settings(app_state)
        self.received = b""
        self.url = b""
        self.last_event_id: bytes | None = None
        self.deadline = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP server's transport is an asyncio.Transport; Protocol's signature is wider.
        self.transport = transport  # type: ignore[assignment]
        loop = self.loop or asyncio.get_running_loop()
        self.deadline = loop.time() + self.settings.head_timeout_seconds
        heads.first_heads.add(self, loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()

    def data_received(self, data: bytes) -> None:
        received = self.received + data if self.received else data
        if not (
            received.startswith(FIRST_REQUEST_START) or FIRST_REQUEST_START.startswith(received)
        ):
            self._hand_over(received)
            return
        end = received.find(b"\r\n\r\n")
        max_head = self.settings.max_head_bytes
        if (end < 0 and len(received) > max_head) or end + 4 > max_head:
            self._stop_timer()
            self.received = b""
            heads.head_too_large(self.transport, self.settings)
            return
        if end < 0:
            self.received = received  # the head is still arriving
            return
        fanout = _ready_fanout(self.app_state)
        request = self._parse_head(fanout, received[: end + 4]) if fanout is not None else None
        if fanout is None or request is None:
            self._hand_over(received)
            return
        # Whatever follows the head (a request pipelined behind the stream) stays
        # unanswered: the stream's response never ends, and nothing may interleave it.
        self._stop_timer()
        self.received = b""
        start_stream(self.transport, fanout, *request)

    def eof_received(self) -> bool | None:
        return None  # the client left before finishing a request: close

    def timed_out(self) -> None:
        if self.transport.get_protocol() is self and not self.transport.is_closing():
            self.received = b""
            heads.head_too_slow(self.transport, self.settings)

    def _stop_timer(self) -> None:
        heads.first_heads.waiting.pop(self, None)

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
        self._stop_timer()
        self.received = b""
        protocol = HttpProtocol(
            config=self.config,
            server_state=self.server_state,
            app_state=self.app_state,
            _loop=self.loop,
            head_deadline=self.deadline,
        )
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        protocol.data_received(received)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded: each request head gets at most
    `TICKER_MAX_HEAD_BYTES` (431) and `TICKER_HEAD_TIMEOUT` (408), an idle kept-alive
    connection `TICKER_KEEP_ALIVE`. A stream request later on the connection still
    takes the fast path, unless an earlier response is still going out: then uvicorn
    queues it and answers in order. A stream served through the
    app gets the same socket bounds and its transport in the scope."""

    _taken = False  # the connection left uvicorn's hands: streaming directly, or refused

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        head_deadline: float | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.settings = _settings(app_state)
        # uvicorn annotates it int but only hands it to call_later: a float is fine.
        self.timeout_keep_alive = self.settings.keep_alive_seconds  # type: ignore[assignment]
        self._head_deadline = head_deadline
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # the parser is inside a request head (or before one)
        self._head_bytes = 0

    # uvicorn's own signature (narrower than asyncio.BaseProtocol's), which we extend.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        deadline = self._head_deadline
        if deadline is None:
            deadline = self.loop.time() + self.settings.head_timeout_seconds
        self._head_timer = self.loop.call_at(deadline, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Counted before parsing, checked after: a chunk that completes a head and
        # carries a body is never mistaken for a long head.
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._in_head
            and not self._taken
            and self._head_bytes > self.settings.max_head_bytes
            and not self.transport.is_closing()
        ):
            self._give_up(heads.head_too_large)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.settings.head_timeout_seconds, self._head_timed_out
            )

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._stop_head_timer()
        if self._taken:
            return
        if self._head_size() > self.settings.max_head_bytes:
            self._give_up(heads.head_too_large)
            return
        if httptools.parse_url(self.url).path == STREAM_PATH:
            sockets.cap_send_buffer(self.transport, self.settings.stream_send_buffer)
            self.scope["extensions"] = cast(Any, {TRANSPORT_EXTENSION: self.transport})
            fanout = _ready_fanout(self.app_state)
            idle = (self.cycle is None or self.cycle.response_complete) and not self.pipeline
            if fanout is not None and idle and _plain_get(self.parser):
                header = next((v for k, v in self.headers if k == b"last-event-id"), None)
                request = stream_request(fanout, self.url, header)
                if request is not None:
                    self._taken = True
                    self.connections.discard(self)
                    start_stream(self.transport, fanout, *request)
                    return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._taken:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_head = True  # the next request's head may follow
        self._head_bytes = 0
        if not self._taken:
            super().on_message_complete()

    def _head_size(self) -> int:
        """The size of the head just parsed, as sent with single spaces: a head that
        arrived whole in one read is measured here, not in `data_received`."""
        line = len(self.parser.get_method()) + len(self.url) + len(" HTTP/1.1\r\n")
        return line + sum(len(name) + len(value) + 4 for name, value in self.headers) + 2

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self._taken and not self.transport.is_closing():
            self._give_up(heads.head_too_slow)

    def _give_up(self, answer: Any) -> None:
        """Answer a head that cannot be read, unless an earlier response is still going
        out (a pipelined request): then close, rather than interleave the two."""
        self._stop_head_timer()
        self._taken = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()
        else:
            answer(self.transport, self.settings)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
