"""Logging: readable lines by default, JSON lines with `TICKER_LOG_FORMAT=json`.

One line per HTTP request (`ticker.access`) and per editorial action
(`ticker.editorial`: publish, correct, retract, expire), with structured fields
passed as `extra={"fields": {...}}`. No secret is ever logged: tokens and
passwords never reach a log call, and Authorization headers are not logged.

Log lines cannot be forged: a request path is percent-decoded, so `%0A` would start a
new line and `%1B` write a raw escape to an operator's terminal. Both formatters escape
every control character (C0, DEL, C1), the line and paragraph separators and the bidi
controls, whatever field they arrive in. In text lines they
become `\\n`, `\\x1b`, `\\u202e` (and a backslash becomes `\\\\`, so the escaping is
unambiguous); in JSON lines they are JSON escapes, so the decoded value is exact.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticker import metrics

access = logging.getLogger("ticker.access")
editorial = logging.getLogger("ticker.editorial")

# The Bidi_Control characters: ALM, LRM, RLM, LRE-RLO (U+202A-202E), LRI-PDI (U+2066-2069).
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
# Lone surrogates too: the log stream's UTF-8 could not write them at all.
_UNSAFE = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *_BIDI, *range(0xD800, 0xE000)]
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _text_escape(cp: int) -> str:
    if cp in _NAMED:
        return _NAMED[cp]
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


# For text lines: every unsafe character as a visible escape, and "\\" doubled.
TEXT_ESCAPES = {cp: _text_escape(cp) for cp in _UNSAFE} | {ord("\\"): "\\\\"}
# For JSON lines (json.dumps already escapes C0 and the backslash): the rest as JSON
# escapes. They only ever occur inside JSON strings, so the line stays valid JSON.
JSON_ESCAPES = {cp: f"\\u{cp:04x}" for cp in _UNSAFE if cp >= 0x7F}


def escape(text: str) -> str:
    """`text` with no character that could break or disguise a text log line."""
    return text.translate(TEXT_ESCAPES)


class TextFormatter(logging.Formatter):
    """`LEVEL logger: message`, the message escaped. A traceback keeps its lines, each
    one marked `| `, so that no line of it can pass for a log line of its own."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return self._style.format(_escaped(record))

    def formatException(self, ei: Any) -> str:
        lines = super().formatException(ei).splitlines()
        return "\n".join(f"| {escape(line)}" for line in lines)


def _escaped(record: logging.LogRecord) -> logging.LogRecord:
    copy = logging.makeLogRecord(record.__dict__)
    copy.message = escape(record.message)
    return copy


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
        return json.dumps(line, ensure_ascii=False, default=str).translate(JSON_ESCAPES)


JsonFormatter.converter = time.gmtime


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
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


def route_template(scope: Scope) -> str:
    """The template of the route that answered, with the prefix of the Mount it is in:
    `/desk/login`, not the Mount's own `/login`; "unmatched" when none did."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    # A Mount moves its prefix from the path into root_path, above the app's own.
    root: str = scope.get("root_path", "")
    mounted = root[len(scope.get("app_root_path", root)) :]
    if isinstance(route, Mount):  # nothing inside it matched: the prefix is the route
        return mounted
    path: str = getattr(route, "path", "")
    return mounted + path


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
                route = route_template(scope)
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
