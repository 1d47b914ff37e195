"""What a stream request asks for: its channels and where to resume (docs/api.md).

Both paths parse with these, so that a request gets the same answer on either: the
fast path (ticker/stream/fastpath.py) sends a request these refuse through the app,
whose ASGI path (ticker/stream/asgi.py) answers the error.
"""

from __future__ import annotations

from ticker.model import CHANNEL_ID, EventId, FieldError, parse_event_id
from ticker.problems import Problem

MAX_CHANNELS = 32  # distinct channels of one stream (docs/api.md)


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
