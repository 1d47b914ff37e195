"""`ticker tail`: follow a ticker server's event stream over HTTP (docs/api.md, "The event stream").

The parser follows the WHATWG HTML "Server-sent events" section to the letter, so that the
CLI behaves like a browser's EventSource: same line ends, same id and retry rules, same
resume point after a disconnect.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import random
import re
import socket
import ssl
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, TextIO

import httpx

from ticker.model import ITEM_EVENTS, EventType

__all__ = [
    "FIRST_DELAY",
    "MAX_DELAY",
    "SseEvent",
    "SseParser",
    "Status",
    "TailError",
    "format_event",
    "reconnect_delay",
    "run_tail",
    "tail",
]

_EOL = re.compile(r"\r\n|\r|\n")
# The reconnect schedule of every client (docs/design.md, "Reconnecting"); the widget's
# CONFIG.backoffMs/maxBackoffMs and web/desk/reconnect.js carry the same figures.
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
_CONNECT_TIMEOUT = 10.0
_IDLE_TIMEOUT = 60.0
# Retry-After beyond this is more likely a misconfiguration than a plan; don't sleep for hours.
_MAX_RETRY_AFTER = 300.0


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str  # "message" when no event: field
    data: str
    retry: int | None  # a retry: field (ms) sent in this event's block, if any


class SseParser:
    """Incremental parser per the WHATWG HTML server-sent events spec: feed() bytes in arbitrary
    chunks (split anywhere, even inside a UTF-8 sequence or between CR and LF), returns the complete
    events. Handles CRLF/CR/LF line ends, comments (lines starting with ':'), 'field' without colon,
    a single space after the colon stripped, multi-line data joined with \\n, the id field (ignored
    if it contains NUL), retry (digits only), a BOM at stream start, and dispatch on blank line
    (no dispatch when data is empty, per spec).

    As in EventSource, the last event id persists across events (an event without `id:` carries
    the previous one) and is committed only at a blank line, so that `last_event_id` is always a
    safe resume point even when the connection drops mid-event. `retry` is the latest
    reconnection time (ms) the server asked for, even from a block that dispatched nothing.
    """

    def __init__(self, last_event_id: str = "") -> None:
        self.last_event_id = last_event_id  # spec: the "last event ID string"
        self.retry: int | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._at_start = True
        self._skip_lf = False  # the previous chunk ended in CR: an LF next completes that CRLF
        self._id_buf = last_event_id
        self._event_buf = ""
        self._data: list[str] = []
        self._block_retry: int | None = None
        self.comments = 0  # comment lines seen (": ping"): a sign of life with no event

    @property
    def mid_event(self) -> bool:
        """Part of an event arrived, not its end: what a cut-off stream leaves behind."""
        return bool(self._buf or self._data or self._event_buf)

    def feed(self, chunk: bytes) -> list[SseEvent]:
        text = self._decoder.decode(chunk)
        if not text:
            return []  # e.g. half a UTF-8 sequence: wait for the rest
        if self._at_start:
            self._at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf and text:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        buf = self._buf + text
        events: list[SseEvent] = []
        start = 0
        while (m := _EOL.search(buf, start)) is not None:
            if m.end() == len(buf) and m.group() == "\r":
                self._skip_lf = True  # the line is complete now, whatever follows
            event = self._line(buf[start : m.start()])
            start = m.end()
            if event is not None:
                events.append(event)
        self._buf = buf[start:]
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            self.comments += 1
            return None  # comment (": ping")
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_buf = value
        elif name == "id":
            if "\0" not in value:
                self._id_buf = value
        elif name == "retry":
            # str.isdigit() alone would accept non-ASCII digits such as "٣".
            if value.isascii() and value.isdigit():
                self.retry = self._block_retry = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        self.last_event_id = self._id_buf
        data, self._data = self._data, []
        event_type, self._event_buf = self._event_buf, ""
        retry, self._block_retry = self._block_retry, None
        if not data:
            return None
        return SseEvent(
            id=self.last_event_id or None,
            event=event_type or "message",
            data="\n".join(data),
            retry=retry,
        )


class TailError(Exception):
    """A failure that reconnecting cannot fix (bad id, unknown channel, not an event stream)."""


def _one_line(text: str) -> str:
    """Control characters and line/paragraph separators become spaces: one event stays one
    line, and nothing from the wire can drive the terminal."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def _item_time(data: dict[str, Any], tz: tzinfo | None) -> datetime:
    for key in ("updated_at", "created_at"):
        value = data.get(key)
        if isinstance(value, str):
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)  # docs/api.md: times are UTC
            return when.astimezone(tz)
    return datetime.now(UTC).astimezone(tz)


def format_event(event: SseEvent, as_json: bool, tz: tzinfo | None = None) -> str | None:
    """One output line, or None for events not worth a line.

    --json: one JSON object per line: {"id", "event", "data": <parsed JSON data>}
    (ensure_ascii=False; data that is not JSON stays a string).
    human: local time (HH:MM:SS of the item's updated_at/created_at if present, converted to
    `tz` (default: local zone), else the time now), channel, event type, and the text for
    publish/update; for retract the reason if any; for expire just the id; for reset: channel
    and how many items. Columns separated by two spaces, e.g.
    `21:31:00  lebanon  publish  1764451860000-0  <text>`. Data that is not a JSON object gets
    no human line; unknown event types get time, channel, type and id.
    """
    try:
        data: Any = json.loads(event.data)
    except ValueError:
        data = None
        if as_json:  # machines still get the event, with data as the raw string
            data = event.data
    if as_json:
        record = {"id": event.id, "event": event.event, "data": data}
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))

    if not isinstance(data, dict):
        return None  # not one of ours: nothing sensible to show a human
    kind = event.event
    channel = str(data.get("channel") or "-")
    item_id = str(data.get("id") or event.id or "-")
    now = datetime.now(UTC).astimezone(tz)
    if kind in ITEM_EVENTS:
        when, rest = _item_time(data, tz), [item_id, str(data.get("text") or "")]
    elif kind == EventType.RETRACT:
        reason = data.get("reason")
        when, rest = now, [item_id, str(reason)] if reason else [item_id]
    elif kind == "reset":
        items = data.get("items")
        count = len(items) if isinstance(items, list) else 0
        when, rest = now, [f"{count} item" if count == 1 else f"{count} items"]
    else:  # expire, and event types added to the contract later
        when, rest = now, [item_id]
    return _one_line("  ".join([when.strftime("%H:%M:%S"), channel, kind, *rest]))


def _notice(message: str) -> None:
    print(f"ticker tail: {message}", file=sys.stderr, flush=True)


class Status:
    """What the tail says about its connection, besides the events themselves.

    Human output: one line on stderr, `HH:MM:SS  <sentence>` (local time, or `tz`), so that
    stdout carries events only. --json: one record per line on stdout, in order with the
    events, told apart from them by a `status` key (docs/api.md, "Command line"):
    `disconnected`, `resumed`, `reset`.
    """

    def __init__(self, as_json: bool, out: TextIO, tz: tzinfo | None = None) -> None:
        self.as_json = as_json
        self.out = out
        self.tz = tz

    def _say(self, sentence: str, record: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        if self.as_json:
            stamped = {"status": record.pop("status"), "time": _utc(now), **record}
            self.out.write(json.dumps(stamped, ensure_ascii=False, separators=(",", ":")) + "\n")
            self.out.flush()
        else:
            clock = now.astimezone(self.tz).strftime("%H:%M:%S")
            print(f"{clock}  {_one_line(sentence)}", file=sys.stderr, flush=True)

    def disconnected(
        self, reason: str, retry_in: float, lost: bool, attempt: int, last_id: str | None
    ) -> None:
        """`lost`: an open stream ended; otherwise a connection attempt failed."""
        if lost:
            what = "connection lost"
        else:
            what = "cannot reconnect" if last_id else "cannot connect"
        self._say(
            f"{what} ({reason}), retrying in {retry_in:.1f} s",
            {
                "status": "disconnected",
                "reason": reason,
                "retry_in": round(retry_in, 1),
                "lost": lost,
                "attempt": attempt,
                "last_event_id": last_id,
            },
        )

    def connected(self) -> None:
        """Connected after failures with no event received yet: a fresh snapshot follows."""
        if not self.as_json:
            self._say("connected, showing the current state", {"status": "connected"})

    def resumed(self, after: str) -> None:
        self._say(f"resumed after {after}, nothing missed", {"status": "resumed", "after": after})

    def reset(self, after: str) -> None:
        self._say(
            "reset received: the server could not replay, showing the current state",
            {"status": "reset", "after": after},
        )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reason(exc: httpx.RequestError) -> str:
    """A transport failure in one phrase a person understands."""
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no answer within {_CONNECT_TIMEOUT:.0f} s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"nothing received for {_IDLE_TIMEOUT:.0f} s"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        causes = _causes(exc)
        if any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in text:
            return "the server refused the connection"
        if any(isinstance(c, socket.gaierror) for c in causes):
            return "the server's name does not resolve"
        if any(isinstance(c, ssl.SSLError) for c in causes):
            return "the TLS handshake failed"
        return "cannot reach the server"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection mid-stream"
    if isinstance(exc, httpx.NetworkError):
        return "the connection broke"
    return f"network error ({type(exc).__name__})"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exceptions behind `exc` (httpx wraps the socket's own error, anyio wraps it again)."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(found) < 10:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


class _Resumption:
    """Tells, for one connection, whether the server replayed from our id or reset.

    The server sends its `reset` events (if it cannot replay) first, with the response
    head; any other event, a comment, or a short silence after the head means the replay
    worked. A reset later in a stream (the server's log went back) is reported too.
    """

    QUIET = 1.0  # seconds of silence after the head that mean "no reset is coming"

    def __init__(self, status: Status, after: str | None) -> None:
        self.status = status
        self.after = after  # the id this connection resumes from, if any
        self.pending = after is not None
        self.in_reset = False  # inside a run of reset events already reported
        self._timer: asyncio.TimerHandle | None = None
        if self.pending:
            self._timer = asyncio.get_running_loop().call_later(self.QUIET, self._settle)

    def _settle(self) -> None:
        if self.pending and self.after is not None:
            self.pending = False
            self.status.resumed(self.after)

    def seen(self, event: SseEvent | None, position: str | None) -> None:
        """Before `event` is printed (None: a comment); `position`: the resume point before it."""
        if event is not None and event.event == "reset":
            if not self.in_reset and (self.pending or position):
                self.status.reset(self.after if self.pending and self.after else position or "")
            self.in_reset = True
            self.close()
            return
        self.in_reset = False
        self._settle()
        self.close()

    def close(self) -> None:
        self.pending = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def _problem_detail(response: httpx.Response) -> str:
    """The problem+json `detail` (or `title`), else the start of whatever the body is."""
    body = await response.aread()
    try:
        problem = json.loads(body)
    except ValueError:
        problem = None
    if isinstance(problem, dict):
        for key in ("detail", "title"):
            if problem.get(key):
                return _one_line(str(problem[key]))
    text = _one_line(body.decode("utf-8", "replace")).strip()[:200]
    return text or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if value.isascii() and value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER)
    return None  # an HTTP date is possible too, but not worth the parsing


def reconnect_delay(
    failures: int,
    base: float = FIRST_DELAY,
    cap: float = MAX_DELAY,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after `failures` (1, 2, ...) failures in a row (docs/design.md,
    "Reconnecting"): `base` doubled after each, times a jitter of 1 to 1.5 so that clients
    dropped together do not all come back in the same instant, at most `cap`. `base` is the
    server's `retry:` when it sent one, so the client never comes back sooner than asked."""
    exponent = min(failures - 1, 30)  # far past any cap; keeps 2**n from overflowing a float
    return min(cap, base * 2.0**exponent * (1 + rand() / 2))


async def tail(
    server: str,
    channels: list[str],
    as_json: bool,
    from_id: str | None,
    out: TextIO,
    max_backoff: float = MAX_DELAY,
    tz: tzinfo | None = None,
) -> None:
    """Follow GET {server}/api/v1/stream?channels=a,b forever.

    The first request sends last_event_id=<from_id> as a query parameter when given; every
    reconnect sends the Last-Event-ID header with the id of the last event received (from_id
    until one arrives). On a connection error, or a 5xx, or the stream ending, wait
    (`reconnect_delay`, at most max_backoff; the server's retry: value is the base when sent)
    and reconnect. 408 and 429 are retried like a 5xx (they mean "later",
    not "never"), honouring Retry-After. Any other 4xx (e.g. 400 bad id, 404 unknown channel)
    is fatal: TailError with the server's problem+json `detail` (or title). So is a 200 that
    is not text/event-stream. `out` is flushed after each line.

    Each disconnect, and the outcome of each resume (replayed, or reset because the server
    could not replay), is reported through `Status`: a timed line on stderr, or a record on
    `out` with --json.
    """
    try:
        url = httpx.URL(server.rstrip("/") + "/api/v1/stream")
    except httpx.InvalidURL as exc:
        raise TailError(f"bad server URL {server!r}: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise TailError(f"bad server URL {server!r}: expected http:// or https://")

    status = Status(as_json, out, tz)
    params = {"channels": ",".join(channels)} if channels else {}
    last_id = from_id  # the resume point, carried across connections
    server_retry: float | None = None
    failures = 0
    first = True
    # The server pings at least every 15 s, so a minute of silence means a dead
    # connection (one that vanished without closing): treat it as lost and resume.
    timeout = httpx.Timeout(_CONNECT_TIMEOUT, read=_IDLE_TIMEOUT)
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}

    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True, headers=headers) as client:
        while True:
            query = dict(params)
            request_headers: dict[str, str] = {}
            if first and from_id:
                query["last_event_id"] = from_id  # as EventSource would: no header on a first GET
            elif not first and last_id:
                request_headers["Last-Event-ID"] = last_id
            first = False
            wait_at_least = 0.0
            opened = False  # this attempt got a stream (so a failure now is a lost connection)
            resumption: _Resumption | None = None
            try:
                async with client.stream(
                    "GET", url, params=query, headers=request_headers
                ) as response:
                    code = response.status_code
                    if code == 200:
                        media_type = response.headers.get("content-type", "").split(";")[0]
                        if media_type.strip().lower() != "text/event-stream":
                            raise TailError(f"not an event stream (Content-Type: {media_type!r})")
                        opened = True
                        if failures and not last_id:
                            status.connected()
                        resumption = _Resumption(status, last_id)
                        parser = SseParser(last_id or "")
                        async for chunk in response.aiter_bytes():
                            comments = parser.comments
                            position = parser.last_event_id
                            for event in parser.feed(chunk):
                                failures = 0  # the connection works: restart the backoff
                                resumption.seen(event, position)
                                position = event.id or position  # feed() parsed the whole chunk
                                line = format_event(event, as_json)
                                if line is not None:
                                    out.write(line + "\n")
                                    out.flush()
                            if parser.comments != comments:
                                resumption.seen(None, position)  # a ping: no reset is coming
                            # Committed at blank lines only, so never past an unfinished event.
                            last_id = parser.last_event_id or None
                            if parser.retry is not None:
                                server_retry = parser.retry / 1000
                        reason = "the server ended the stream"
                        if parser.mid_event:
                            reason += " in the middle of an event"
                    elif code >= 500 or code in (408, 429):
                        reason = f"the server answered {code} {response.reason_phrase}".rstrip()
                        wait_at_least = _retry_after(response) or 0.0
                    else:
                        detail = await _problem_detail(response)
                        raise TailError(f"HTTP {code}: {detail}")
            except (httpx.UnsupportedProtocol, httpx.TooManyRedirects) as exc:
                raise TailError(f"cannot follow the stream: {exc}") from None
            except httpx.RequestError as exc:  # connect/read errors, timeouts, a cut-off body
                reason = _reason(exc)
            finally:
                if resumption is not None:
                    resumption.close()
            failures += 1
            base = server_retry if server_retry is not None else FIRST_DELAY
            delay = max(wait_at_least, reconnect_delay(failures, base, max(max_backoff, base)))
            status.disconnected(reason, delay, opened, failures, last_id)
            await asyncio.sleep(delay)


def run_tail(server: str, channels: list[str], as_json: bool, from_id: str | None) -> int:
    """Entry point for the CLI: runs tail() on sys.stdout with asyncio.run; returns 0 on Ctrl+C
    (KeyboardInterrupt) with no traceback, 1 with a one-line message on stderr on TailError."""
    try:
        asyncio.run(tail(server, channels, as_json, from_id, sys.stdout))
    except KeyboardInterrupt:
        return 0
    except TailError as exc:
        _notice(str(exc))
        return 1
    except BrokenPipeError:
        # The reader went away (`ticker tail | head`): a normal end. Point stdout at devnull
        # so that the interpreter's final flush does not complain about the pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0  # not reached: tail() only ends by an exception
