"""Prometheus metrics (prometheus-client), correct with several worker processes.

With `ticker serve --workers N` (N > 1), `PROMETHEUS_MULTIPROC_DIR` is set before
any worker starts, so every worker writes its samples to files there and
`/metrics` sums them over all workers (prometheus-client's multiprocess mode;
`ticker/multiprocess_metrics.py` leaves dead workers' gauges out and adds each
worker's process metrics). With one process the ordinary registry is used.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.registry import REGISTRY
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ticker import __version__, multiprocess_metrics
from ticker.hosts import Network, address_in, parse_networks
from ticker.problems import Problem

M = TypeVar("M", Counter, Gauge)

subscribers = Gauge(
    "ticker_subscribers",
    "Open event streams, by channel filter ('*' for every channel).",
    ["channel"],
    multiprocess_mode="livesum",
)
events = Counter("ticker_events_total", "Events read from the log, by type.", ["type"])
deliveries = Counter("ticker_deliveries_total", "Events handed to subscribers.")
delivery_lag = Histogram(
    "ticker_delivery_lag_seconds",
    "From an event's creation in Redis to its fan-out in this process.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
dropped = Counter("ticker_subscribers_dropped_total", "Subscribers dropped as too slow.")
# Counted when a stream opens and when it ends, never per delivery.
stream_connects = Counter(
    "ticker_stream_connects_total",
    "Streams opened, by path: `fast` (written to directly) or `asgi` (through the app).",
    ["path"],
)
stream_disconnects = Counter(
    "ticker_stream_disconnects_total",
    "Streams ended, by reason: `client` (the client closed or reset the connection), "
    "`dropped_slow` (too far behind, or nothing read for TICKER_SEND_TIMEOUT), `shutdown` "
    "(this process stopped and sent a farewell `retry:`), `error` (writing to it failed here).",
    ["reason"],
)
STREAM_PATHS = ("fast", "asgi")
DISCONNECT_REASONS = ("client", "dropped_slow", "shutdown", "error")
resumes = Counter("ticker_resumes_total", "Resumes with an event id, by source.", ["source"])
resets = Counter("ticker_resets_total", "Streams that started with reset snapshots.")
redis_errors = Counter("ticker_redis_errors_total", "Redis errors, by component.", ["component"])
reader_reconnects = Counter(
    "ticker_stream_reader_reconnects_total", "Times the stream reader reconnected to Redis."
)
scheduler_runs = Counter(
    "ticker_scheduler_runs_total",
    # Not `job`: Prometheus keeps that label for the scrape job (it would become `exported_job`).
    "Scheduler job runs, by task (expire, trim).",
    ["task"],
)
expired = Counter("ticker_items_expired_total", "Items expired by the scheduler.")
http_requests = Counter(
    "ticker_http_requests_total",
    "HTTP requests answered through the app, by route, method and status.",
    ["route", "method", "status"],
)
http_duration = Histogram(
    "ticker_http_request_duration_seconds",
    "Time to answer HTTP requests (streams: time to the response head).",
    ["route"],
)
# Publish → screen lag as the widget reports it (ticker/routes/beacon.py): a 1% sample.
screen_lag = Histogram(
    "ticker_screen_lag_seconds",
    "From an event's creation in Redis to a reader's screen, as sampled widgets report it.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
)
lag_reports = Counter(
    "ticker_lag_reports_total",
    "Lag reports received from widgets, by result (accepted, invalid, limited).",
    ["result"],
)
# The usual *_build_info gauge (always 1): dashboards and alerts join on its version label.
build_info = Gauge(
    "ticker_build_info", "The running ticker's version.", ["version"], multiprocess_mode="livemax"
)
build_info.labels(__version__).set(1)


_children: dict[tuple[Counter | Gauge, str], Any] = {}


def child(metric: M, label: str) -> M:
    """`metric.labels(label)`, looked up once: `labels()` takes a lock and builds
    tuples, which costs more than the rest of a connect's bookkeeping."""
    key = (metric, label)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(label)
    return found


# Every path and reason from the start, at 0: `increase()` needs a series before its first
# increment, and a dashboard shows "none" rather than "no data".
for _path in STREAM_PATHS:
    child(stream_connects, _path)
for _reason in DISCONNECT_REASONS:
    child(stream_disconnects, _reason)


def delivered(event_ids_ms: list[int], count: int) -> None:
    """`count` events handed to subscribers; the lag of each event fanned out."""
    deliveries.inc(count)
    now = time.time()
    for event_id_ms in event_ids_ms:
        delivery_lag.observe(max(0.0, now - event_id_ms / 1000))


async def metrics(request: Request) -> Response:
    # Only for scrapers: the numbers describe the service's audience and internals.
    # Behind a trusted proxy the client is the forwarded address.
    settings = request.state.settings  # the lifespan's (ticker/services.py)
    client = request.client.host if request.client else None
    if not address_in(client, _networks(settings.metrics_allow)):
        raise Problem(
            403,
            f"/metrics is served only to the networks in TICKER_METRICS_ALLOW, and "
            f"{client!r} is not in them; scrape from there, or add the scraper's network.",
        )
    if folder := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = multiprocess_metrics.registry(Path(folder))
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@functools.cache
def _networks(setting: str) -> tuple[Network, ...]:
    return parse_networks(setting)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request (by route template: raw paths would make the label set
    unbounded)."""
    http_duration.labels(route).observe(seconds)
    http_requests.labels(route, method, str(status)).inc()


routes = [Route("/metrics", metrics, methods=["GET"])]
