"""Bounds on request heads, for both protocols of ticker/stream/fastpath.py.

uvicorn's httptools protocol limits neither the size of a request head nor the time
it takes to arrive: one socket sending a never-ending header
grew the process by 33 MiB, and half-sent heads stayed open for minutes. Here: the
answers to a head that is too large (431) or too slow (408), the lingering close
that lets the client read them, and one timer for every connection still reading
its first head.
"""

from __future__ import annotations

import asyncio
import json
from typing import Protocol

from ticker.config import Settings
from ticker.problems import MEDIA_TYPE, Problem


class FirstHead(Protocol):
    """A connection reading its first head: when it must be done, and what then."""

    deadline: float

    def timed_out(self) -> None: ...


def refuse(transport: asyncio.Transport, status: int, detail: str) -> None:
    """Answer a request that cannot be read (too large, too slow) and close: what follows
    on the connection cannot be trusted to start a request."""
    problem = Problem(status, detail)
    body = json.dumps(problem.body()).encode()
    head = (
        f"HTTP/1.1 {status} {problem.title}\r\n"
        f"content-type: {MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "x-content-type-options: nosniff\r\n"
        "connection: close\r\n\r\n"
    ).encode()
    transport.write(head + body)
    Discard(transport)


class Discard(asyncio.Protocol):
    """The end of a refused connection. Closing a socket with unread input resets it,
    and the reset can overtake the answer on its way to the client: so send the answer,
    shut the sending side, and read (and drop) what the client still sends, until it
    closes or `LINGER_SECONDS` pass."""

    __slots__ = ("timer", "transport")
    LINGER_SECONDS = 2.0

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.set_protocol(self)
        if transport.can_write_eof():
            transport.write_eof()
        self.timer = asyncio.get_running_loop().call_later(self.LINGER_SECONDS, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool | None:
        return None  # close

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()


def head_too_large(transport: asyncio.Transport, settings: Settings) -> None:
    refuse(
        transport,
        431,
        f"The request head (request line and headers) is larger than the "
        f"{settings.max_head_bytes} bytes this server reads; send fewer or shorter headers.",
    )


def head_too_slow(transport: asyncio.Transport, settings: Settings) -> None:
    refuse(
        transport,
        408,
        f"The request head did not arrive within {settings.head_timeout_seconds:g} s; "
        "send the whole request at once.",
    )


class FirstHeads:
    """Connections still reading their first head, oldest first, under one timer: a
    timer per connection would cost every connect ~3 µs (uvloop's call_at and cancel),
    a tenth of a stream's connect. The head timeout is one setting, so the order of
    arrival is the order of deadlines; a round gathers those due within `BATCH_SECONDS`.
    """

    BATCH_SECONDS = 0.25

    def __init__(self) -> None:
        self.waiting: dict[FirstHead, None] = {}
        self.timer: asyncio.TimerHandle | None = None

    def add(self, protocol: FirstHead, loop: asyncio.AbstractEventLoop) -> None:
        self.waiting[protocol] = None
        if self.timer is None:
            self.timer = loop.call_at(protocol.deadline, self.expire, loop)

    def expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        now = loop.time()
        while self.waiting:
            protocol = next(iter(self.waiting))
            if protocol.deadline > now:
                later = max(protocol.deadline, now + self.BATCH_SECONDS)
                self.timer = loop.call_at(later, self.expire, loop)
                return
            del self.waiting[protocol]
            protocol.timed_out()


first_heads = FirstHeads()
