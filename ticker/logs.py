"""Logging: readable lines by default, JSON lines with `TICKER_LOG_FORMAT=json`.

One line per HTTP request (`ticker.access`) and per editorial action
(`ticker.editorial`: publish, correct, retract, expire), with structured fields
passed as `extra={"fields": {...}}`. No secret is ever logged: tokens and
passwords never reach a log call, and Authorization headers are not logged.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticker import metrics

access = logging.getLogger("ticker.access")
editorial = logging.getLogger("ticker.editorial")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler logs every job run at INFO; its warnings and errors are what matter.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Our access log replaces uvicorn's, which has no structured fields.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def action(kind: str, **fields: Any) -> None:
    """Record one editorial action: who did what to which item."""
    editorial.info(
        "%s %s/%s by %s",
        kind,
        fields.get("channel"),
        fields.get("id"),
        fields.get("actor") or "scheduler",
        extra={"fields": {"action": kind, **fields}},
    )


class AccessLog:
    """One log line and one metrics sample per request: method, route template, path,
    status, duration, client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_and_log(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", "unmatched")
                seconds = time.perf_counter() - started
                metrics.observe_request(route, scope["method"], message["status"], seconds)
                client = scope.get("client")
                fields = {
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": message["status"],
                    "duration_ms": round(seconds * 1000, 2),
                    "client": client[0] if client else None,
                }
                access.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    message["status"],
                    extra={"fields": fields},
                )
            await send(message)

        await self.app(scope, receive, send_and_log)
