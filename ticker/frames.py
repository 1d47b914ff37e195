"""Server-sent-event frames (WHATWG HTML, "Server-sent events"), encoded once per event.

Every subscriber of a process shares the bytes made here (docs/design.md, invariant 3):
the raw frame for the ASGI path, and the same frame already wrapped as one HTTP/1.1
chunk for connections the fast path writes to directly. Event data is compact JSON
on one line: JSON escapes CR and LF inside strings, so an item's text can never
split or forge a frame.
"""

from __future__ import annotations

import random
from typing import NamedTuple


class Frame(NamedTuple):
    raw: bytes
    chunk: bytes  # `raw` as one chunk of HTTP/1.1 chunked transfer coding


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def frame(raw: bytes) -> Frame:
    return Frame(raw, chunk(raw))


def frame_of(frames: list[Frame]) -> Frame:
    """Several frames as one, for one write."""
    if len(frames) == 1:
        return frames[0]
    return frame(b"".join(f.raw for f in frames))


def event_frame(event_id: str, event: str, data: str) -> Frame:
    return frame(f"id: {event_id}\nevent: {event}\ndata: {data}\n\n".encode())


def retry_frame(base_ms: int) -> bytes:
    """`retry:` with up to 100% jitter, so that clients dropped together do not all
    come back in the same instant."""
    return b"retry: %d\n\n" % (base_ms + int(random.random() * (base_ms + 1)))


def farewell_retry_ms(base_ms: int) -> int:
    """The reconnect delay told to clients when a process shuts down, spread over a
    few seconds so that a deploy does not cause a reconnect storm."""
    return base_ms + random.randint(0, 4 * base_ms)


PING = frame(b": ping\n\n")
