"""What several routes need: JSON bodies with a size cap, public links, the channel a path
names. Their services come from the request (ticker/services.py)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from ticker.hosts import parse_public_url
from ticker.http import BodyTooLarge, read_body
from ticker.model import Channel
from ticker.problems import Problem
from ticker.services import services

BODY_LIMIT = 16 * 1024


async def read_json(request: Request) -> Any:
    """The request's JSON body: 413 past 16 KiB (ticker/http/bodies.py), 400 when it is not
    JSON."""
    try:
        body = await read_body(request, BODY_LIMIT)
    except BodyTooLarge:
        raise Problem(413, f"The body is larger than {BODY_LIMIT // 1024} KiB.") from None
    if not body.strip():
        raise Problem(400, "The request has no body; send a JSON object.", title="Malformed JSON")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Problem(400, "The body is not valid UTF-8.", title="Malformed JSON") from None
    except json.JSONDecodeError as exc:
        raise Problem(
            400,
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            title="Malformed JSON",
        ) from None
    except ValueError:
        # Python refuses to convert integers of more than 4300 digits (CVE-2020-10735).
        raise Problem(
            400,
            "The body has a number too long to read (over 4300 digits); no field takes one.",
            title="Malformed JSON",
        ) from None
    except RecursionError:
        raise Problem(
            400,
            "The body nests arrays or objects too deeply to read; items are flat objects.",
            title="Malformed JSON",
        ) from None


def public_base(request: Request) -> str:
    """The base of absolute links: TICKER_PUBLIC_URL, else this request's scheme and
    Host (which ticker.hosts.HostCheck has checked against TICKER_ALLOWED_HOSTS)."""
    configured = services(request).settings.public_url
    if configured is not None:
        return parse_public_url(configured)
    return str(request.base_url).rstrip("/")


async def known_channel(request: Request, channel_id: str) -> Channel:
    """The channel, from the fan-out's copy (kept current through the log), else Redis
    (a channel made a moment ago): one Redis round trip fewer on every publish."""
    svc = services(request)
    channel = svc.fanout.channels.get(channel_id) if svc.fanout.ready.is_set() else None
    if channel is None:
        channel = await svc.store.get_channel(channel_id)
    if channel is None:
        raise Problem(404, f"There is no channel '{channel_id}'. GET /api/v1/channels lists them.")
    return channel
