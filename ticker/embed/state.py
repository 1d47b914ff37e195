"""What a page that shows the widget starts from: its channels, their snapshots, and the
position the page's widget resumes the stream from (read by the widget's `seed`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ticker.model import Channel, parse_event_id
from ticker.services import services


async def find_channels(request: Request, ids: list[str]) -> list[Channel] | None:
    """Every channel named, from the fan-out's copy or Redis; None if one does not exist."""
    svc = services(request)
    found = []
    for channel_id in ids:
        channel = svc.fanout.channels.get(channel_id) or await svc.store.get_channel(channel_id)
        if channel is None:
            return None
        found.append(channel)
    return found


async def snapshots(request: Request, ids: list[str]) -> tuple[str | None, list[dict[str, Any]]]:
    """Each channel's snapshot, and the stream position the page's widget resumes from."""
    svc = services(request)
    if svc.fanout.ready.is_set():
        # From memory, with no await in between: one moment for every channel, so the newest
        # of their last ids is a position from which the stream misses nothing of any of them.
        taken = [svc.fanout.snapshot(channel_id) for channel_id in ids]
        newest = max((s["last_event_id"] for s in taken), key=parse_event_id)
        return (None if newest == "0-0" else newest), taken
    # Read from Redis one by one: no common moment, so let the widget take the stream's
    # `reset` events instead of resuming.
    read = []
    for channel_id in ids:
        s = await svc.store.snapshot(channel_id)
        read.append({"channel": s.channel, "last_event_id": s.last_event_id, "items": s.items})
    return None, read


def seed(
    position: str | None, channels: list[Channel], taken: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the widget starts from on our pages (read by its `seed`)."""
    return {
        "position": position,
        "channels": {c.id: c.to_json() for c in channels},
        "snapshots": taken,
    }
