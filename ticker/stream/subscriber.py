"""The subscribers of the fan-out: one per open stream, and where its frames go.

`ticker.fanout.Subscriber` is the small interface the fan-out writes to (`write`,
`write_many`, `ping`, `close`); the two transports implement it here. `QueueSubscriber` serves the
ASGI path (ticker/stream/asgi.py): frames wait in a bounded queue for the response's
writer task. `StreamConnection` is the fast path's (ticker/stream/fastpath.py): the
connection itself, written to directly, its transport's buffer being its queue.
Either is dropped when its reader falls too far behind (its client resumes with
Last-Event-ID and loses nothing), rather than slowing anyone else down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from ticker import logs, metrics
from ticker.fanout import Subscriber
from ticker.frames import PING, Frame, chunk, retry_frame
from ticker.model import EventId
from ticker.stream import sockets

if TYPE_CHECKING:
    from ticker.fanout import Fanout

STREAM_PATH = b"/api/v1/stream"
RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n"
    b"x-accel-buffering: no\r\n"
    b"x-content-type-options: nosniff\r\n"
    b"access-control-allow-origin: *\r\n"
    b"transfer-encoding: chunked\r\n"
    b"\r\n"
)
END_OF_BODY = b"0\r\n\r\n"


class QueueSubscriber(Subscriber):
    """A subscriber of the ASGI path: frames wait in a bounded queue for the response's
    writer task. Past `limit` bytes it is dropped rather than slowing anyone else down;
    its client reconnects with the id of the last event it got and loses nothing.

    Given its connection's transport (served by ticker/stream/fastpath.py's protocol), what
    waits there counts too, and a drop resets the connection at once.
    """

    __slots__ = ("base", "buffer", "farewell", "limit", "size", "transport", "wakeup")

    def __init__(
        self,
        channels: frozenset[str] | None,
        limit: int,
        transport: asyncio.WriteTransport | None = None,
    ) -> None:
        super().__init__(channels)
        self.buffer: deque[bytes] = deque()
        self.size = 0  # bytes in `buffer`
        # A replay is bounded by the ring, not by `limit`: the limit is on falling behind
        # live events, so what a large resume still has to send is the base it starts from.
        self.base = 0
        self.limit = limit
        self.transport = transport
        self.wakeup = asyncio.Event()
        self.farewell = b""  # a last `retry:`, sent after what is queued (on shutdown)

    def backlog(self) -> int:
        """Bytes waiting for this reader in user space: queued here and in the transport."""
        transport = self.transport
        return self.size + (transport.get_write_buffer_size() if transport is not None else 0)

    def write(self, frame: Frame) -> None:
        self.buffer.append(frame.raw)
        self.size += len(frame.raw)
        backlog = self.backlog()
        if backlog > self.base + self.limit:
            self.drop()
        elif backlog < self.base:
            self.base = backlog  # the replay is draining
        self.wakeup.set()

    def write_many(self, frames: list[Frame]) -> None:
        self.buffer.extend(frame.raw for frame in frames)
        self.size += sum(len(frame.raw) for frame in frames)
        self.base = self.backlog()
        self.wakeup.set()

    def drop(self) -> None:
        self.dropped = True
        self.buffer.clear()
        self.size = 0
        metrics.dropped.inc()
        self.end("dropped_slow")
        if self.transport is not None:
            sockets.abort(self.transport)  # stuck: reset, do not linger on a graceful close

    def close(self, retry_ms: int) -> None:
        """Have the response end with a `retry:` of its own (on shutdown)."""
        if not self.dropped:
            self.dropped = True
            self.end("shutdown")
            self.farewell = b"retry: %d\n\n" % retry_ms
            self.wakeup.set()

    def fail(self) -> None:
        super().fail()
        self.buffer.clear()
        self.size = 0
        self.wakeup.set()  # the response ends, and its client comes back

    async def next_chunk(self) -> bytes | None:
        """Everything queued, as one write; None once the subscriber is dropped or
        closed and nothing is left to send."""
        while not self.buffer and not self.dropped:
            self.wakeup.clear()
            await self.wakeup.wait()
        if not self.buffer:
            farewell, self.farewell = self.farewell, b""
            return farewell or None
        chunk = b"".join(self.buffer)
        self.buffer.clear()
        self.size = 0
        return chunk


class StreamConnection(Subscriber, asyncio.Protocol):
    """A stream the fan-out writes to directly; the transport's buffer is its queue.

    The socket's kernel buffer is capped (`TICKER_STREAM_SEND_BUFFER`), so what waits
    in the transport is what the reader is behind by. It is dropped when more than
    `limit` bytes of live events wait there (beyond a replay still draining), or when
    nothing it was sent has left the transport for `TICKER_SEND_TIMEOUT`: pings are
    writes too, so a stuck reader on a quiet channel goes within a ping interval of it.
    """

    __slots__ = (
        "answered",
        "base",
        "fanout",
        "last_size",
        "limit",
        "preamble",
        "started",
        "stuck_since",
        "timeout",
        "transport",
    )
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
        self.timeout = fanout.settings.send_timeout_seconds
        self.base = 0
        self.last_size = 0  # bytes in the transport's buffer after the last write
        self.stuck_since = 0.0  # when a backlog last made progress
        self.started = time.perf_counter()
        self.answered = 0.0  # seconds to answer: what `AccessLog` times for an ASGI stream
        # The response head and `retry:`, sent with the first frames in one write.
        self.preamble = RESPONSE_HEAD + chunk(retry_frame(fanout.settings.retry_ms))

    # Subscriber

    def write(self, frame: Frame) -> None:
        data = frame.chunk
        transport = self.transport
        transport.write(data)
        size = transport.get_write_buffer_size()
        if size:
            self.backlogged(size, len(data))
        elif self.last_size:
            self.last_size = 0  # caught up

    def backlogged(self, size: int, added: int) -> None:
        """Bytes wait in the transport after a write: drop the reader if it is too far
        behind or has taken nothing for too long."""
        now = time.monotonic()
        if not self.last_size or size < self.last_size + added:
            self.stuck_since = now  # a new backlog, or some of the old one went out
        elif now - self.stuck_since >= self.timeout:
            self.drop()
            return
        self.last_size = size
        if size > self.base + self.limit:
            self.drop()
        elif size < self.base:
            self.base = size  # the replay is draining

    def write_many(self, frames: list[Frame]) -> None:
        data = chunk(b"".join(frame.raw for frame in frames))
        if self.preamble:
            data, self.preamble = self.preamble + data, b""
        self.transport.write(data)
        self.base = self.last_size = self.transport.get_write_buffer_size()
        self.stuck_since = time.monotonic()

    def start(self, after: EventId | None) -> None:
        """Subscribe, sending the response head with the replay or resets (if any)."""
        fanout = self.fanout
        resuming = fanout.subscribe(self, after)
        if self.preamble:  # nothing was written yet: live writes must find it sent
            self.transport.write(self.preamble)
            self.preamble = b""
        if resuming is not None:
            fanout.run_soon(resuming)
        metrics.child(metrics.stream_connects, "fast").inc()
        self.answered = time.perf_counter() - self.started

    def ping(self) -> None:
        if not self.dropped and self.held is None:
            self.write(PING)

    def drop(self) -> None:
        self.dropped = True
        metrics.dropped.inc()
        self.end("dropped_slow")
        sockets.abort(self.transport)  # its client resumes from the last event it got

    def fail(self) -> None:
        super().fail()
        sockets.abort(self.transport)  # rather than leave its client waiting on silence

    def close(self, retry_ms: int) -> None:
        """End the stream cleanly, asking the client to come back after `retry_ms`."""
        if not self.dropped:
            self.dropped = True
            self.end("shutdown")
            self.transport.write(chunk(b"retry: %d\n\n" % retry_ms) + END_OF_BODY)
            self.transport.close()

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        pass  # a stream's client has nothing more to say; ignore anything it sends

    def eof_received(self) -> bool | None:
        return None  # the client went away: let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.dropped = True
        self.end("client")  # unless it had ended already (dropped, shut down, failed)
        self.fanout.unsubscribe(self)
        self.log_closed()

    def log_closed(self) -> None:
        """The access-log line of the stream, as `AccessLog` writes one for an ASGI
        request, but at the end: its duration is the stream's whole life. The metrics
        sample is the time to answer, as for a stream served through the app."""
        seconds = time.perf_counter() - self.started
        route = STREAM_PATH.decode()
        metrics.observe_request(route, "GET", 200, self.answered)
        if logs.access.isEnabledFor(logging.INFO):
            peer = self.transport.get_extra_info("peername")
            fields = {
                "method": "GET",
                "path": route,
                "route": route,
                "status": 200,
                "duration_ms": round(seconds * 1000, 2),
                "client": peer[0] if isinstance(peer, tuple) else None,
            }
            logs.access.info("GET %s 200", route, extra={"fields": fields})
