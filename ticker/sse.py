"""Server-sent-event frames (WHATWG HTML, "Server-sent events"), encoded once per event.

Every subscriber of a process shares the bytes made here (DESIGN.md, invariant 3).
Event data is compact JSON on one line: JSON escapes CR and LF inside strings, so
a frame can never be split or forged by an item's text.
"""

from __future__ import annotations

import random


def event_frame(event_id: str, event: str, data: str) -> bytes:
    return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n".encode()


def retry_frame(base_ms: int) -> bytes:
    """`retry:` with up to 100% jitter, so that clients dropped together do not all
    come back in the same instant."""
    return f"retry: {base_ms + random.randint(0, base_ms)}\n\n".encode()


def comment_frame(text: str) -> bytes:
    return f": {text}\n\n".encode()
