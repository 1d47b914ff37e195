"""What several routes need: the app's services, JSON bodies with a size cap, public headers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ticker.config import Settings
from ticker.fanout import Fanout
from ticker.hosts import parse_public_url
from ticker.model import Channel
from ticker.problems import Problem
from ticker.scheduler import Scheduler
from ticker.store import Store

BODY_LIMIT = 16 * 1024
PUBLIC_HEADERS = {"Access-Control-Allow-Origin": "*"}


@dataclass
class Services:
    """Everything a route needs, made once in the lifespan and kept on `app.state`."""

    settings: Settings
    store: Store
    fanout: Fanout
    scheduler: Scheduler


def services(request: Request) -> Services:
    return request.app.state.services


async def read_json(request: Request) -> Any:
    """The request's JSON body: 413 past 16 KiB (checked while reading, so a lying or
    missing Content-Length cannot get more through), 400 when it is not JSON."""
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isascii()  # isdigit() is true for "²" too, which int() refuses
        and declared.isdigit()
        and int(declared) > BODY_LIMIT
    ):
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_LIMIT:
            raise _too_large()
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


def whole_number(raw: str, low: int, high: int) -> int | None:
    """`raw` as an integer from `low` to `high` written in ASCII digits, else None.

    `str.isdigit` is true for "²" and "١٠" too, and `int("²")` raises: only 0-9 here."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        return None
    value = int(raw)
    return value if low <= value <= high else None


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


def _too_large() -> Problem:
    return Problem(413, f"The body is larger than {BODY_LIMIT // 1024} KiB.")
