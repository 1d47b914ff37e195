"""The seams between the app's parts, without a server: capped bodies, the desk's
headers middleware, lifespan state, principals, route templates behind a Mount."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Iterable

import pytest
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import Message, Scope

from ticker import services as services_module
from ticker.auth.sessions import Session
from ticker.desk.errors import DeskError
from ticker.desk.forms import FORM_LIMIT, read_form
from ticker.desk.security import HEADERS, RefuseCrossSite, SecurityHeaders
from ticker.http import BodyTooLarge, read_body
from ticker.logs import route_template
from ticker.routes import desk
from ticker.store import UserRecord
from ticker.store.desk import SessionRecord


def request(body_chunks: Iterable[bytes], headers: dict[str, str]) -> Request:
    chunks = list(body_chunks)

    async def receive() -> Message:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}
        return {"type": "http.request", "body": b"", "more_body": False}

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
    }
    return Request(scope, receive)


def test_a_body_is_read_whole_within_its_limit() -> None:
    got = asyncio.run(read_body(request([b"ab", b"cd"], {"content-length": "4"}), 4))
    assert got == b"abcd"


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    # The body itself is short: only the declared length can have refused it.
    for declared in ("5", "99999999999999999999999"):
        with pytest.raises(BodyTooLarge):
            asyncio.run(read_body(request([b"ab"], {"content-length": declared}), 4))


def test_a_body_that_lies_about_its_length_is_cut_off_while_reading() -> None:
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request([b"abc", b"de"], {"content-length": "3"}), 4))
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request([b"abc", b"de"], {}), 4))


@pytest.mark.parametrize("declared", ["²", "1²", "-1", "4.0", " 4", ""])
def test_a_content_length_not_in_ascii_digits_promises_nothing(declared: str) -> None:
    # "²".isdigit() is True and int("²") raises: the desk's form reader crashed on it.
    body = asyncio.run(read_body(request([b"ok"], {"content-length": declared}), 4))
    assert body == b"ok"
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request([b"toolong"], {"content-length": declared}), 4))


def test_the_desk_form_reader_takes_a_strange_content_length() -> None:
    form = asyncio.run(
        read_form(
            request(
                [b"text=%D8%B9%D8%A7%D8%AC%D9%84"],
                {"content-length": "²", "content-type": "application/x-www-form-urlencoded"},
            )
        )
    )
    assert form["text"] == "عاجل"
    big = request([b"x" * (FORM_LIMIT + 1)], {"content-type": "application/x-www-form-urlencoded"})
    with pytest.raises(DeskError) as caught:
        asyncio.run(read_form(big))
    assert caught.value.status == 413


def _run_middleware(app_headers: list[tuple[bytes, bytes]], method: str = "GET") -> Message:
    sent: list[Message] = []

    async def app(scope: Scope, receive: object, send: typing.Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": app_headers})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request"}

    scope = {"type": "http", "method": method, "headers": []}
    asyncio.run(SecurityHeaders(app)(scope, receive, send))
    return sent[0]


def test_the_desk_headers_go_on_every_answer_without_overriding_its_own() -> None:
    plain = dict(_run_middleware([]))["headers"]
    names = {k.decode().lower(): v.decode() for k, v in plain}
    for name, value in HEADERS.items():
        assert names[name.lower()] == value
    assert names["cache-control"] == "no-store"
    own = _run_middleware([(b"cache-control", b"no-cache"), (b"x-frame-options", b"SAMEORIGIN")])
    pairs = [(k.decode().lower(), v.decode()) for k, v in own["headers"]]
    assert pairs.count(("cache-control", "no-cache")) == 1
    assert [v for k, v in pairs if k == "cache-control"] == ["no-cache"]
    assert [v for k, v in pairs if k == "x-frame-options"] == ["SAMEORIGIN"]


def test_a_cross_site_post_never_reaches_a_desk_handler() -> None:
    reached: list[str] = []

    async def handler(scope: Scope, receive: object, send: object) -> None:
        reached.append(scope["method"])

    async def nothing() -> Message:
        return {"type": "http.request"}

    async def call(method: str, site: str) -> None:
        scope = {"type": "http", "method": method, "headers": [(b"sec-fetch-site", site.encode())]}
        await RefuseCrossSite(handler)(scope, nothing, nothing)  # type: ignore[arg-type]

    with pytest.raises(DeskError) as caught:
        asyncio.run(call("POST", "cross-site"))
    assert caught.value.status == 403 and reached == []
    asyncio.run(call("GET", "cross-site"))
    asyncio.run(call("POST", "same-origin"))
    assert reached == ["GET", "POST"]


def test_the_lifespan_state_has_every_service_and_nothing_else() -> None:
    own = services_module.Services.__annotations__  # not State's own `_state`
    hints = {k: v for k, v in typing.get_type_hints(services_module.Services).items() if k in own}
    given = typing.get_type_hints(services_module.lifespan_state)
    given.pop("return")
    assert set(hints) == set(given) == {"settings", "store", "fanout", "scheduler", "sessions"}
    assert hints == given  # the same types too
    state = services_module.lifespan_state(**{name: object() for name in hints})  # type: ignore[arg-type]
    assert set(state) == set(hints)


def _session(role: str, channels: list[str]) -> Session:
    record = SessionRecord(user="rania", csrf="c", created_ms=0, deadline_ms=1)
    return Session("id", record, UserRecord("rania", role, "hash", channels))


def test_a_session_acts_as_its_user_on_their_channels() -> None:
    editor = _session("editor", ["sport", "main"]).principal
    assert editor.actor == "user:rania"
    assert editor.allows("main") and not editor.allows("economy")
    admin = _session("admin", ["sport"]).principal  # an admin's list does not limit them
    assert admin.channels == () and admin.allows("economy")
    assert _session("editor", []).principal.allows("anything")  # no list: every channel


def test_access_logs_name_a_desk_route_by_its_whole_template() -> None:
    mount = next(r for r in desk.routes if isinstance(r, Mount))
    login = next(r for r in mount.routes if getattr(r, "path", "") == "/login")
    top = {"type": "http", "root_path": "", "route": desk.routes[0]}
    assert route_template(top) == "/desk"
    inside = {"type": "http", "root_path": "/desk", "app_root_path": "", "route": login}
    assert route_template(inside) == "/desk/login"
    behind_proxy = {"type": "http", "root_path": "/news/desk", "app_root_path": "/news"}
    assert route_template({**behind_proxy, "route": login}) == "/desk/login"
    assert route_template({**behind_proxy, "route": mount}) == "/desk"
    assert route_template({"type": "http"}) == "unmatched"
