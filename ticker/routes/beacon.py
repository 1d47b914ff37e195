"""`POST /api/v1/beacon/lag`: the widget's sampled publish → screen lags (docs/api.md,
"Lag reports"), observed into `ticker_screen_lag_seconds`.

The body is a JSON list of whole milliseconds, sent as `text/plain` so that a page of
any origin can send it without a preflight. Nothing of a report is stored or logged but
the numbers in the histogram: no cookie or header is read, and a refused body is never
repeated in the answer. Each client address may send `TICKER_LAG_REPORTS_PER_MINUTE`
reports per minute to each process, counted in memory.
"""

from __future__ import annotations

import ipaddress
import json
import math
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ticker import metrics
from ticker.http import PUBLIC_HEADERS, preflight
from ticker.model import FieldError
from ticker.problems import Problem, invalid_fields
from ticker.services import services

BODY_LIMIT = 1024  # 20 values of 5 digits take 120 bytes
MAX_VALUES = 20
MAX_LAG_MS = 60_000
MEDIA_TYPES = ("text/plain", "application/json")
WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 100_000  # per window: what a flood of addresses may cost, about 10 MB


class RateLimit:
    """At most `limit` reports per client per fixed one-minute window, in this process's
    memory: the counts of the current window only, so memory stays bounded by the
    addresses seen in one minute (and by MAX_ADDRESSES)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.window = 0
        self.counts: dict[str, int] = {}

    def wait(self, address: str, now: float) -> int:
        """0 when this report may go in (and counts it), else seconds until it may."""
        window = int(now // WINDOW_SECONDS)
        if window != self.window:
            self.window = window
            self.counts = {}
        key = client_key(address)
        count = self.counts.get(key, 0)
        if count >= self.limit or (count == 0 and len(self.counts) >= MAX_ADDRESSES):
            return max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        self.counts[key] = count + 1
        return 0


def client_key(address: str) -> str:
    """The address, or for IPv6 its /64: one household or phone gets a whole /64 and may
    pick any address in it, so counting per address would not limit it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def parse_lags(body: bytes) -> list[int]:
    """The body's lags in milliseconds, or a 400/422 problem saying what is wrong."""
    if not body.strip():
        raise Problem(
            400, "The body is empty; send a JSON list of lags in milliseconds, like [120, 95]."
        )
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Problem(
            400,
            "The body is not a JSON list of numbers; send lags in milliseconds, like [120, 95].",
            title="Malformed JSON",
        ) from None
    if not isinstance(value, list):
        raise invalid_fields([FieldError("body", "must be a JSON list of lags in milliseconds")])
    if not 1 <= len(value) <= MAX_VALUES:
        raise invalid_fields(
            [FieldError("body", f"must hold from 1 to {MAX_VALUES} lags, not {len(value)}")]
        )
    errors = [
        FieldError(f"[{i}]", f"must be a whole number of milliseconds from 0 to {MAX_LAG_MS}")
        for i, lag in enumerate(value)
        if type(lag) is not int or not 0 <= lag <= MAX_LAG_MS  # bool is an int: refused too
    ]
    if errors:
        raise invalid_fields(errors)
    return value


async def report_lag(request: Request) -> Response:
    settings = services(request).settings
    if not settings.lag_reports:
        raise _public(
            Problem(404, "Lag reports are turned off on this server (TICKER_LAG_REPORTS=false).")
        )
    limiter = _limiter(request, settings.lag_reports_per_minute)
    wait = limiter.wait(request.client.host if request.client else "unknown", time.time())
    if wait:
        metrics.lag_reports.labels("limited").inc()
        raise _public(
            Problem(
                429,
                f"This address has sent {limiter.limit} lag reports this minute, the most a "
                f"server takes; send the next in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        )
    try:
        lags = parse_lags(await _body(request))
    except Problem as problem:
        metrics.lag_reports.labels("invalid").inc()
        raise _public(problem) from None
    for lag in lags:
        metrics.screen_lag.observe(lag / 1000)
    metrics.lag_reports.labels("accepted").inc()
    return Response(status_code=204, headers=PUBLIC_HEADERS)


async def _body(request: Request) -> bytes:
    """The body, at most BODY_LIMIT bytes (counted while reading: a Content-Length may lie),
    of a media type a beacon may have."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise Problem(
            415,
            "Send the lags as text/plain (what navigator.sendBeacon sends for a string) or "
            f"application/json, not {media_type or 'no Content-Type'}.",
        )
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > BODY_LIMIT:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_LIMIT:
            raise _too_large()
    return bytes(body)


def _too_large() -> Problem:
    return Problem(413, f"A lag report is at most {BODY_LIMIT} bytes ({MAX_VALUES} lags).")


def _public(problem: Problem) -> Problem:
    """Readable by the page of any origin that sent the report."""
    problem.headers.update(PUBLIC_HEADERS)
    return problem


def _limiter(request: Request, limit: int) -> RateLimit:
    limiter: RateLimit | None = getattr(request.app.state, "lag_limit", None)
    if limiter is None:
        limiter = request.app.state.lag_limit = RateLimit(limit)
    return limiter


routes = [
    Route("/api/v1/beacon/lag", report_lag, methods=["POST"]),
    # Not needed for the widget's text/plain beacons; a page posting application/json is
    # a non-simple request and asks first.
    Route("/api/v1/beacon/lag", preflight("POST", "Content-Type"), methods=["OPTIONS"]),
]
