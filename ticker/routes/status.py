"""The fleet's status and a channel's reach, from every process's heartbeat (docs/api.md,
"Fleet status" and "Reach"; ticker/heartbeat.py writes what these read).

Both answer from Redis, so any process tells about all of them; the numbers are at most
one heartbeat old (`TICKER_HEARTBEAT_SECONDS`). Counts only: no address, no reader.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ticker.auth import authenticate, require_channel
from ticker.heartbeat import fleet_status, rfc3339
from ticker.model import EVENT_ID, FieldError
from ticker.problems import Problem, invalid_fields
from ticker.routes.common import known_channel
from ticker.services import services

PRIVATE = {"Cache-Control": "no-store"}
ALL_CHANNELS = "*"  # the key of streams that follow every channel
STATS_ITEMS = 100  # the most items one answer counts (the API's largest limit)


async def status(request: Request) -> Response:
    svc = services(request)
    principal = await authenticate(request, svc.store, svc.sessions)
    if not principal.admin:
        raise Problem(
            403,
            "The fleet's status is for admins: log in to the desk as an admin, or use a "
            "token made with 'ticker token create --admin'.",
        )
    return JSONResponse(
        await fleet_status(svc.store, svc.settings.heartbeat_seconds), headers=PRIVATE
    )


async def channel_stats(request: Request) -> Response:
    svc = services(request)
    principal = await authenticate(request, svc.store, svc.sessions)
    channel = await known_channel(request, request.path_params["channel"])
    require_channel(principal, channel.id)
    beats = await svc.store.heartbeats()
    # A stream of every channel reads this one too.
    readers = sum(
        b["channels"].get(channel.id, 0) + b["channels"].get(ALL_CHANNELS, 0) for b in beats
    )
    snapshot = await svc.store.snapshot(channel.id, STATS_ITEMS)
    live = [item["id"] for item in snapshot.items]
    asked = _asked_items(request.query_params.get("items"))
    ids = live if asked is None else asked
    reach = await svc.store.reach(channel.id, ids)
    body = {
        "channel": channel.id,
        "time": rfc3339(time.time()),
        "heartbeat_seconds": svc.settings.heartbeat_seconds,
        "readers": readers,
        "processes": len(beats),
        "last_event_id": snapshot.last_event_id,
        "items": [{"id": i, "delivered": reach[i], "live": i in live} for i in ids],
    }
    return JSONResponse(body, headers=PRIVATE)


def _asked_items(raw: str | None) -> list[str] | None:
    """`?items=ID,ID`: the items to count (ended ones too, for the desk's "Recently ended"),
    in the order given; None when absent (the live items)."""
    if raw is None:
        return None
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    bad = [i for i in ids if not EVENT_ID.match(i)]
    if bad or not ids or len(ids) > STATS_ITEMS:
        raise invalid_fields(
            [
                FieldError(
                    "items",
                    f"must be 1 to {STATS_ITEMS} item ids (<ms>-<seq>) separated by commas"
                    + (f"; {bad[0]!r} is not one" if bad else ""),
                )
            ]
        )
    return ids


routes = [
    Route("/api/v1/status", status, methods=["GET"]),
    Route("/api/v1/channels/{channel}/stats", channel_stats, methods=["GET"]),
]
