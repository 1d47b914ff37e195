"""`ticker tail`: the SSE parser, the output lines, and the client against a raw HTTP server."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import ticker.tail as tail_module
from ticker.tail import (
    MAX_DELAY,
    SseEvent,
    SseParser,
    Status,
    TailError,
    format_event,
    run_tail,
    tail,
)

ARABIC = "الممثل الإقليمي لمنظمة الفاو: فتح ممرات قليل جدا"
PLUS_TWO = timezone(timedelta(hours=2))


def item(item_id: str = "1764451860000-0", text: str = ARABIC, **extra: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "channel": "lebanon",
        "text": text,
        "url": None,
        "priority": "urgent",
        "created_at": "2026-11-29T21:31:00Z",
        "updated_at": "2026-11-29T21:31:00Z",
        "expires_at": "2026-11-30T03:31:00Z",
        **extra,
    }


def frame(event_id: str, event: str, data: Any, eol: str = "\n") -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}{eol}event: {event}{eol}data: {payload}{eol}{eol}".encode()


def feed_all(chunks: list[bytes]) -> tuple[SseParser, list[SseEvent]]:
    parser = SseParser()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return parser, events


# --- the parser ---------------------------------------------------------------------------


def stream_bytes(eol: str) -> bytes:
    return (
        f": ping{eol}{eol}".encode()
        + frame("1764451860000-0", "publish", item(), eol)
        + f"retry: 1500{eol}{eol}".encode()
        + frame(
            "1764451860000-1",
            "retract",
            {"id": "1764451860000-0", "channel": "lebanon", "reason": "خطأ في الخبر"},
            eol,
        )
    )


EXPECTED = [
    SseEvent(
        "1764451860000-0",
        "publish",
        json.dumps(item(), ensure_ascii=False, separators=(",", ":")),
        None,
    ),
    SseEvent(
        "1764451860000-1",
        "retract",
        '{"id":"1764451860000-0","channel":"lebanon","reason":"خطأ في الخبر"}',
        None,
    ),
]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_parser_every_split_position(eol: str) -> None:
    raw = stream_bytes(eol)
    # Arabic is two bytes per letter: many split points fall inside a UTF-8 sequence.
    assert len(raw) > len(raw.decode())
    for i in range(len(raw) + 1):
        parser, events = feed_all([raw[:i], raw[i:]])
        assert events == EXPECTED, f"split at byte {i}"
        assert parser.retry == 1500
        assert parser.last_event_id == "1764451860000-1"


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_parser_byte_by_byte(eol: str) -> None:
    raw = stream_bytes(eol)
    _, events = feed_all([raw[i : i + 1] for i in range(len(raw))])
    assert events == EXPECTED


def test_parser_cr_then_lf_in_next_chunk_is_one_line_end() -> None:
    # Were the LF taken for a second line end, the blank line would dispatch "a" early.
    _, events = feed_all([b"data: a\r", b"\nevent: x\r", b"\n\r", b"\n"])
    assert events == [SseEvent(None, "x", "a", None)]


def test_parser_comments_and_unknown_fields_ignored() -> None:
    _, events = feed_all([b": ping\n:\n\nfoo: bar\ndata: x\n: inside an event\nbogus\n\n"])
    assert events == [SseEvent(None, "message", "x", None)]


def test_parser_field_without_colon_and_space_rules() -> None:
    _, events = feed_all([b"data\n\ndata:no space\n\ndata:  two spaces\n\ndata: a: b\n\n"])
    assert [e.data for e in events] == ["", "no space", " two spaces", "a: b"]


def test_parser_multi_line_data() -> None:
    _, events = feed_all([b"data: first\ndata:\ndata: \xd8\xb9\xd8\xa7\xd8\xac\xd9\x84\n\n"])
    assert events[0].data == "first\n\nعاجل"


def test_parser_no_dispatch_without_data() -> None:
    parser, events = feed_all([b"event: publish\nid: 5-0\n\ndata: x\n\n"])
    # The empty block dispatches nothing, resets the event type, but does commit its id.
    assert events == [SseEvent("5-0", "message", "x", None)]
    assert parser.last_event_id == "5-0"


def test_parser_id_rules() -> None:
    parser, events = feed_all(
        [b"id: 1-0\ndata: a\n\ndata: b\n\nid: 2\x00-0\ndata: c\n\nid\ndata: d\n\n"]
    )
    # An id persists across events (as in EventSource), NUL makes it ignored, empty clears it.
    assert [e.id for e in events] == ["1-0", "1-0", "1-0", None]
    assert parser.last_event_id == ""


def test_parser_id_committed_only_at_blank_line() -> None:
    parser, events = feed_all([b"id: 1-0\ndata: a\n\nid: 2-0\ndata: b\n"])
    assert [e.id for e in events] == ["1-0"]
    assert parser.last_event_id == "1-0"  # 2-0 was never complete: not a resume point


def test_parser_retry() -> None:
    parser, events = feed_all([b"retry: 1500\n\n"])
    assert events == [] and parser.retry == 1500
    for bad in (
        b"retry: 1.5\n",
        b"retry: -1\n",
        b"retry:\n",
        "retry: ٣\n".encode(),
        b"retry: 10s\n",
    ):
        parser, _ = feed_all([bad + b"\n"])
        assert parser.retry is None, bad
    _, events = feed_all([b"retry: 250\ndata: x\n\ndata: y\n\n"])
    assert [e.retry for e in events] == [250, None]


def test_parser_bom_at_start_only() -> None:
    bom = "\ufeff".encode()
    for i in range(len(bom) + 1):
        _, events = feed_all([bom[:i], bom[i:] + b"data: x\n\n"])
        assert events == [SseEvent(None, "message", "x", None)]
    # Only one leading BOM is dropped; a second makes the first field name unknown.
    _, events = feed_all([bom + bom + b"data: x\n\n"])
    assert events == []


def test_parser_incomplete_event_not_dispatched() -> None:
    _, events = feed_all([b"data: a\n\ndata: b\n"])
    assert [e.data for e in events] == ["a"]


def test_parser_invalid_utf8_replaced() -> None:
    _, events = feed_all([b"data: \xff\xfe ok\n\n"])
    assert events[0].data == "\ufffd\ufffd ok"


# --- format_event -------------------------------------------------------------------------


def event(kind: str, data: Any, event_id: str = "1764451860000-0") -> SseEvent:
    return SseEvent(event_id, kind, json.dumps(data, ensure_ascii=False), None)


RETRACT = {"id": "1764451860000-0", "channel": "lebanon", "reason": "خبر غير دقيق"}
EXPIRE = {"id": "1764451860000-0", "channel": "lebanon"}
RESET = {
    "channel": "lebanon",
    "last_event_id": "1764451860000-3",
    "items": [item(), item("1764451800000-0", "نص آخر")],
}
CLOCK = r"\d\d:\d\d:\d\d"


def test_human_publish_in_given_zone() -> None:
    line = format_event(event("publish", item()), as_json=False, tz=PLUS_TWO)
    assert line == f"23:31:00  lebanon  publish  1764451860000-0  {ARABIC}"


def test_human_update_uses_updated_at_and_item_id() -> None:
    data = item(text="تصحيح: " + ARABIC, updated_at="2026-11-29T21:45:10Z")
    line = format_event(event("update", data, "1764451910000-0"), as_json=False, tz=PLUS_TWO)
    assert line == f"23:45:10  lebanon  update  1764451860000-0  تصحيح: {ARABIC}"


def test_human_publish_default_zone_is_local() -> None:
    line = format_event(event("publish", item()), as_json=False)
    assert line is not None and re.fullmatch(f"{CLOCK}  lebanon  publish  .*", line)
    assert line.endswith(ARABIC)


def test_human_retract_expire_reset() -> None:
    line = format_event(event("retract", RETRACT), as_json=False)
    assert line is not None
    assert re.fullmatch(f"{CLOCK}  lebanon  retract  1764451860000-0  خبر غير دقيق", line)
    line = format_event(event("retract", {**RETRACT, "reason": None}), as_json=False)
    assert line is not None and re.fullmatch(f"{CLOCK}  lebanon  retract  1764451860000-0", line)
    line = format_event(event("expire", EXPIRE), as_json=False)
    assert line is not None and re.fullmatch(f"{CLOCK}  lebanon  expire  1764451860000-0", line)
    line = format_event(event("reset", RESET), as_json=False)
    assert line is not None and re.fullmatch(f"{CLOCK}  lebanon  reset  2 items", line)
    one = format_event(event("reset", {**RESET, "items": [item()]}), as_json=False)
    assert one is not None and one.endswith("  reset  1 item")


def test_human_keeps_one_line_per_event() -> None:
    line = format_event(event("publish", item(text="سطر\nسطر\u2028\x1b[2J")), as_json=False)
    assert line is not None and "\n" not in line and "\x1b" not in line and "\u2028" not in line


def test_human_skips_data_that_is_not_ours() -> None:
    assert format_event(SseEvent(None, "message", "not json", None), as_json=False) is None
    assert format_event(SseEvent(None, "message", "[1, 2]", None), as_json=False) is None


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("publish", item()),
        ("update", item()),
        ("retract", RETRACT),
        ("expire", EXPIRE),
        ("reset", RESET),
    ],
)
def test_json_lines(kind: str, data: Any) -> None:
    line = format_event(event(kind, data), as_json=True)
    assert line is not None and "\n" not in line
    assert json.loads(line) == {"id": "1764451860000-0", "event": kind, "data": data}
    if kind in ("publish", "update", "reset"):
        assert ARABIC in line  # literally, not \u-escaped


def test_json_keeps_unparsable_data_as_string() -> None:
    line = format_event(SseEvent("1-0", "message", "plain text", None), as_json=True)
    assert line is not None
    assert json.loads(line) == {"id": "1-0", "event": "message", "data": "plain text"}


# --- tail() against a real HTTP server ---------------------------------------------------

Headers = dict[str, str]
Handler = Callable[[int, str, Headers, asyncio.StreamWriter], Awaitable[None]]
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
)


def problem_response(status: int, reason: str, detail: str, extra: str = "") -> bytes:
    body = json.dumps(
        {"type": "about:blank", "title": reason, "status": status, "detail": detail},
        ensure_ascii=False,
    ).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    ).encode() + body


async def serve(handler: Handler) -> tuple[asyncio.Server, str]:
    """A raw HTTP/1.1 server on a free port; `handler(n, target, headers, writer)` answers
    the n-th request (from 1)."""
    count = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            headers = {}
            for header in filter(None, header_lines):
                name, _, value = header.partition(":")
                headers[name.strip().lower()] = value.strip()
            count += 1
            await handler(count, request_line.split(" ")[1], headers, writer)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


class Output(io.StringIO):
    """What tail() prints, with a wake-up for the test waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)

    async def lines(self, n: int) -> list[str]:
        async with asyncio.timeout(5):
            while self.getvalue().count("\n") < n:
                self.written.clear()
                await self.written.wait()
        return self.getvalue().splitlines()


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def tail_lines(
    handler: Handler,
    done: asyncio.Event,
    n: int,
    channels: list[str],
    as_json: bool,
    from_id: str | None,
    max_backoff: float = MAX_DELAY,
) -> list[str]:
    """The first `n` lines tail() prints against a server that answers with `handler`;
    then the tail is stopped, and `done` set for the handlers that keep a stream open
    until it is."""
    server, url = await serve(handler)
    out = Output()
    task = asyncio.create_task(tail(url, channels, as_json, from_id, out, max_backoff))
    try:
        return await out.lines(n)
    finally:
        await stop(task)
        done.set()
        server.close()
        await server.wait_closed()


async def test_tail_resumes_with_last_event_id(capsys: pytest.CaptureFixture[str]) -> None:
    e1 = frame("1764451860000-0", "publish", item())
    e2 = frame("1764451870000-0", "retract", RETRACT)
    e3 = frame("1764451880000-0", "publish", item("1764451880000-0", "عاجل: خبر ثالث"))
    requests: list[tuple[str, dict[str, str]]] = []
    done = asyncio.Event()

    async def handler(n: int, target: str, headers: Headers, w: asyncio.StreamWriter) -> None:
        requests.append((target, headers))
        w.write(SSE_HEAD)
        if n == 1:
            # A short retry: keeps the test fast; the cut-off third event must not count
            # as received, so the resume point stays at the second.
            w.write(b"retry: 20\n\n" + e1 + b": ping\n\n" + e2 + e3[:30])
        else:
            w.write(e3)
            await w.drain()
            await done.wait()

    lines = await tail_lines(
        handler, done, 6, ["lebanon", "main"], True, "1764451800000-0", max_backoff=0.2
    )

    records = [json.loads(line) for line in lines]
    events = [r for r in records if "status" not in r]
    assert [e["id"] for e in events] == ["1764451860000-0", "1764451870000-0", "1764451880000-0"]
    assert events[2]["data"]["text"] == "عاجل: خبر ثالث"
    # Status records, in order with the events, none with an `event` key.
    statuses = [(n, r) for n, r in enumerate(records) if "status" in r]
    assert [(n, r["status"]) for n, r in statuses] == [
        (0, "resumed"),
        (3, "disconnected"),
        (4, "resumed"),
    ]
    assert statuses[0][1]["after"] == "1764451800000-0"
    lost = statuses[1][1]
    assert lost["reason"] == "the server ended the stream in the middle of an event"
    assert lost["lost"] is True and lost["attempt"] == 1
    assert lost["last_event_id"] == "1764451870000-0" and lost["retry_in"] >= 0
    assert statuses[2][1]["after"] == "1764451870000-0"
    assert all(set(r) >= {"status", "time"} and "event" not in r for _, r in statuses)
    assert len(requests) == 2
    (first_target, first_headers), (second_target, second_headers) = requests
    first_query = parse_qs(urlsplit(first_target).query)
    assert urlsplit(first_target).path == "/api/v1/stream"
    assert first_query == {"channels": ["lebanon,main"], "last_event_id": ["1764451800000-0"]}
    assert "last-event-id" not in first_headers
    assert parse_qs(urlsplit(second_target).query) == {"channels": ["lebanon,main"]}
    assert second_headers["last-event-id"] == "1764451870000-0"
    assert capsys.readouterr().err == ""  # --json: everything on stdout


async def test_tail_retries_5xx_then_streams(capsys: pytest.CaptureFixture[str]) -> None:
    done = asyncio.Event()

    async def handler(n: int, target: str, headers: Headers, w: asyncio.StreamWriter) -> None:
        if n == 1:
            w.write(
                problem_response(
                    503, "Service Unavailable", "Redis unreachable", "Retry-After: 0\r\n"
                )
            )
            return
        w.write(SSE_HEAD + frame("1764451860000-0", "publish", item()))
        await w.drain()
        await done.wait()

    lines = await tail_lines(handler, done, 1, [], False, None, max_backoff=0.05)

    assert lines[0].endswith(f"  lebanon  publish  1764451860000-0  {ARABIC}")
    err = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d  cannot connect \(the server answered 503 Service Unavailable\), "
        r"retrying in \d+\.\d s",
        err[0],
    ), err
    assert len(err) == 2 and err[1].endswith("  connected, showing the current state"), err


async def test_tail_404_is_fatal_with_detail() -> None:
    requests = 0

    async def handler(n: int, target: str, headers: Headers, w: asyncio.StreamWriter) -> None:
        nonlocal requests
        requests = n
        w.write(problem_response(404, "Not Found", "unknown channel: nowhere"))

    server, url = await serve(handler)
    try:
        with pytest.raises(TailError, match=r"404.*unknown channel: nowhere"):
            async with asyncio.timeout(5):
                await tail(url, ["nowhere"], False, None, io.StringIO())
    finally:
        server.close()
        await server.wait_closed()
    assert requests == 1  # no retry


async def test_tail_rejects_a_non_stream() -> None:
    async def handler(n: int, target: str, headers: Headers, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi")

    server, url = await serve(handler)
    try:
        with pytest.raises(TailError, match="not an event stream"):
            async with asyncio.timeout(5):
                await tail(url, [], False, None, io.StringIO())
    finally:
        server.close()
        await server.wait_closed()


# --- run_tail (the CLI entry point): one line on stderr and exit status 1 ------------------


class _BadRequest(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(
            {"title": "Bad Request", "status": 400, "detail": "malformed id: 'abc'"}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


def test_run_tail_reports_fatal_error(capsys: pytest.CaptureFixture[str]) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _BadRequest)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        status = run_tail(f"http://127.0.0.1:{httpd.server_port}", [], False, "abc")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert status == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "malformed id: 'abc'" in err


def test_run_tail_rejects_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_tail("ftp://example.invalid", [], False, None) == 1
    assert "bad server URL" in capsys.readouterr().err


# --- what the tail says about its connection ------------------------


def test_reasons_are_one_phrase() -> None:
    refused = httpx.ConnectError("All connection attempts failed")
    refused.__cause__ = OSError("All connection attempts failed")
    refused.__cause__.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    unknown_host = httpx.ConnectError("[Errno -2] Name or service not known")
    unknown_host.__cause__ = socket.gaierror(-2, "Name or service not known")
    cases = {
        refused: "the server refused the connection",
        unknown_host: "the server's name does not resolve",
        httpx.ConnectError("boom"): "cannot reach the server",
        httpx.ConnectTimeout("timed out"): "no answer within 10 s",
        httpx.ReadTimeout("timed out"): "nothing received for 60 s",
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"): (
            "the server closed the connection mid-stream"
        ),
        httpx.ReadError("Connection reset by peer"): "the connection broke",
    }
    for exc, phrase in cases.items():
        assert tail_module._reason(exc) == phrase, exc


def test_human_status_lines_are_timed(capsys: pytest.CaptureFixture[str]) -> None:
    status = Status(False, io.StringIO(), PLUS_TWO)
    status.disconnected("the server ended the stream", 2.04, True, 1, "1-0")
    status.disconnected("the server refused the connection", 4.5, False, 2, "1-0")
    status.disconnected("the server refused the connection", 0.5, False, 1, None)
    status.resumed("1-0")
    status.reset("1-0")
    lines = capsys.readouterr().err.splitlines()
    clock = r"\d\d:\d\d:\d\d  "
    expected = [
        "connection lost (the server ended the stream), retrying in 2.0 s",
        "cannot reconnect (the server refused the connection), retrying in 4.5 s",
        "cannot connect (the server refused the connection), retrying in 0.5 s",
        "resumed after 1-0, nothing missed",
        "reset received: the server could not replay, showing the current state",
    ]
    assert len(lines) == len(expected)
    for line, text in zip(lines, expected, strict=True):
        assert re.fullmatch(clock + re.escape(text), line), line


EMPTY_RESET: dict[str, Any] = {"channel": "lebanon", "last_event_id": None, "items": []}


async def test_tail_reports_a_reset_instead_of_a_replay() -> None:
    """A resume the server cannot replay (it answers with `reset`), and a reset later in a
    stream (the server's log went back): one `reset` record before each run of resets."""

    done = asyncio.Event()

    async def handler(n: int, target: str, headers: Headers, w: asyncio.StreamWriter) -> None:
        w.write(SSE_HEAD + b"retry: 20\n\n")
        w.write(frame("1764451900000-0", "reset", EMPTY_RESET))
        w.write(frame("1764451900000-0", "reset", {**EMPTY_RESET, "channel": "main"}))
        w.write(frame("1764451910000-0", "publish", item("1764451910000-0")))
        w.write(frame("1764451905000-0", "reset", EMPTY_RESET))
        await w.drain()
        await done.wait()

    lines = await tail_lines(handler, done, 6, ["lebanon", "main"], True, "1764451800000-0")
    records = [json.loads(line) for line in lines]
    kinds = [r.get("status") or r["event"] for r in records]
    assert kinds == ["reset", "reset", "reset", "publish", "reset", "reset"]
    assert records[0]["status"] == "reset" and records[0]["after"] == "1764451800000-0"
    assert records[4]["status"] == "reset" and records[4]["after"] == "1764451910000-0"


async def test_tail_fresh_start_is_no_reset_and_a_quiet_resume_is_reported() -> None:
    """Without an id, the first resets are just the snapshot. After a reconnect with an id
    and nothing to replay, the silence after the response head means the replay worked."""

    done = asyncio.Event()

    async def handler(n: int, target: str, headers: Headers, w: asyncio.StreamWriter) -> None:
        w.write(SSE_HEAD + b"retry: 20\n\n")
        if n == 1:
            w.write(frame("1764451900000-0", "reset", EMPTY_RESET))
            return  # the stream ends: the tail reconnects with Last-Event-ID
        await w.drain()
        await done.wait()  # nothing to replay, nothing live

    lines = await tail_lines(handler, done, 3, ["lebanon"], True, None, max_backoff=0.05)
    records = [json.loads(line) for line in lines]
    assert [r.get("status") or r["event"] for r in records] == [
        "reset",
        "disconnected",
        "resumed",
    ]
    assert records[1]["reason"] == "the server ended the stream" and records[1]["lost"] is True
    assert records[2]["after"] == "1764451900000-0"
