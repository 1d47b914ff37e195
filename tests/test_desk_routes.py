"""The desk's route table against a real `ticker serve`: every desk URL answers every
method as it always has (status, redirect target, the desk's headers or the API's
problem+json), for a stranger, an editor and an admin.

The desk is one Starlette Mount under /desk; these answers pin what its routing does
at the edges: /desk without a slash, HEAD beside GET, a method a path lacks, an
unknown path, a cross-site post. ITEM is an item id no channel has.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest

from tests.desk_support import add_user, desk_client, login, unique
from tests.support import RedisServer, TickerServer

ITEM = "/desk/items/main/1-0"


@dataclass(frozen=True)
class Answer:
    status: int
    location: str | None = None  # the redirect target, when there is one
    kind: str = "desk"  # "desk": the desk's headers; "problem": problem+json, no desk CSP


def check(client: httpx.Client, method: str, path: str, expected: Answer, **kw: object) -> None:
    r = client.request(method, path, **kw)  # type: ignore[arg-type]
    seen = f"{method} {path}: {r.status_code} {r.headers.get('location')}"
    assert r.status_code == expected.status, seen
    assert r.headers.get("location") == expected.location, seen
    csp = r.headers.get("content-security-policy", "")
    if expected.kind == "desk":
        assert "frame-ancestors 'none'" in csp, seen
        assert r.headers["x-frame-options"] == "DENY", seen
        assert r.headers["referrer-policy"] == "same-origin", seen
        assert r.headers["cache-control"], seen
    else:
        assert r.headers["content-type"] == "application/problem+json", seen
        assert "frame-ancestors 'none'" not in csp, seen
    assert r.headers["x-content-type-options"] == "nosniff", seen
    if method == "HEAD":
        assert r.content == b"", seen


def to_login(path: str) -> Answer:
    return Answer(303, "/desk/login?next=" + quote(path))


ANYONE = [
    ("GET", "/desk", Answer(303, "/desk/compose")),
    ("HEAD", "/desk", Answer(303, "/desk/compose")),
    ("GET", "/desk/", Answer(303, "/desk/compose")),
    ("GET", "/desk/static/desk.js", Answer(200)),
    ("HEAD", "/desk/static/desk.js", Answer(200)),
    ("GET", "/desk/static/nowhere.js", Answer(404)),
    ("GET", "/desk/login", Answer(200)),
    ("HEAD", "/desk/login", Answer(200)),
    ("GET", "/desk/lang/en?next=/desk/compose", Answer(303, "/desk/compose")),
    ("GET", "/desk/lang/en?next=https://evil.example/", Answer(303, "/desk/login")),
    ("GET", "/desk/lang/xx", Answer(404)),
    ("GET", "/desk/nowhere", Answer(404)),
    ("GET", "/desk/admin/nowhere/deeper", Answer(404)),
    ("HEAD", "/desk/nowhere", Answer(404)),
    # A method the path does not have: the API's 405, from the router.
    ("POST", "/desk", Answer(405, kind="problem")),
    ("POST", "/desk/", Answer(405, kind="problem")),
    ("POST", "/desk/nowhere", Answer(405, kind="problem")),
    ("PUT", "/desk/login", Answer(405, kind="problem")),
    ("DELETE", "/desk/compose", Answer(405, kind="problem")),
    # A GET where only POST is: the catch-all page (GET) answers first.
    ("GET", "/desk/logout", Answer(404)),
    ("GET", "/desk/publish", Answer(404)),
    ("GET", "/desk/admin/channels/main", Answer(404)),
    ("POST", "/desk/audit", Answer(405, kind="problem")),
    # Pages that need a session send a stranger to the login, and back afterwards.
    ("GET", "/desk/compose", to_login("/desk/compose")),
    ("GET", "/desk/compose?channel=main", to_login("/desk/compose?channel=main")),
    ("HEAD", "/desk/compose", to_login("/desk/compose")),
    ("GET", "/desk/password", to_login("/desk/password")),
    ("GET", "/desk/audit", to_login("/desk/audit")),
    ("GET", "/desk/audit.csv", to_login("/desk/audit.csv")),
    ("GET", "/desk/admin/channels", to_login("/desk/admin/channels")),
    ("GET", "/desk/admin/users", to_login("/desk/admin/users")),
    ("GET", "/desk/admin/tokens", to_login("/desk/admin/tokens")),
    ("GET", f"{ITEM}/edit", to_login(f"{ITEM}/edit")),
    ("GET", f"{ITEM}/retract", to_login(f"{ITEM}/retract")),
    ("GET", "/desk/session", Answer(401)),
    # Form posts without a session: a post cannot be replayed after the login.
    ("POST", "/desk/password", to_login("/desk/compose")),
    ("POST", f"{ITEM}/retract", to_login("/desk/compose")),
    ("POST", "/desk/admin/channels", to_login("/desk/compose")),
    ("POST", "/desk/admin/tokens/x/revoke", to_login("/desk/compose")),
    ("POST", "/desk/publish", Answer(401)),
    ("POST", f"{ITEM}/edit", Answer(401)),
    ("POST", "/desk/login", Answer(403)),  # no login token
    ("POST", "/desk/logout", Answer(403)),  # neither a session token nor same-origin
]

EDITOR = [
    ("GET", "/desk/login", Answer(303, "/desk/compose")),
    ("GET", "/desk/login?next=/desk/password", Answer(303, "/desk/password")),
    ("GET", "/desk/compose", Answer(200)),
    ("HEAD", "/desk/compose", Answer(200)),
    ("GET", "/desk/password", Answer(200)),
    ("GET", "/desk/session", Answer(200)),
    ("GET", f"{ITEM}/edit", Answer(303, "/desk/compose?channel=main&done=gone")),
    ("GET", f"{ITEM}/retract", Answer(303, "/desk/compose?channel=main&done=gone")),
    ("GET", "/desk/items/nochannel/1-0/edit", Answer(404)),
    ("GET", "/desk/audit", Answer(403)),
    ("GET", "/desk/audit.csv", Answer(403)),
    ("GET", "/desk/admin/channels", Answer(403)),
    ("GET", "/desk/admin/users", Answer(403)),
    ("GET", "/desk/admin/tokens", Answer(403)),
    ("POST", "/desk/admin/users", Answer(403)),
    ("POST", "/desk/password", Answer(403)),  # no CSRF token in the form
    ("POST", "/desk/nowhere", Answer(405, kind="problem")),
]

ADMIN = [
    ("GET", "/desk/audit", Answer(200)),
    ("GET", "/desk/audit.csv", Answer(200)),
    ("HEAD", "/desk/audit.csv", Answer(200)),
    ("GET", "/desk/admin/channels", Answer(200)),
    ("GET", "/desk/admin/users", Answer(200)),
    ("GET", "/desk/admin/tokens", Answer(200)),
    ("POST", "/desk/admin/channels/nochannel", Answer(403)),  # no CSRF token
]


@pytest.fixture(scope="module")
def editor(redis_server: RedisServer, server: TickerServer) -> Iterator[httpx.Client]:
    with desk_client(server.base) as client:
        login(client, add_user(redis_server.url, "editor", "main"))
        yield client


@pytest.fixture(scope="module")
def admin(redis_server: RedisServer, server: TickerServer) -> Iterator[httpx.Client]:
    with desk_client(server.base) as client:
        login(client, add_user(redis_server.url, "admin"))
        yield client


@pytest.mark.parametrize(("method", "path", "expected"), ANYONE, ids=lambda v: str(v))
def test_a_stranger_gets_what_the_desk_always_answered(
    server: TickerServer, method: str, path: str, expected: Answer
) -> None:
    with desk_client(server.base) as client:
        check(client, method, path, expected)


@pytest.mark.parametrize(("method", "path", "expected"), EDITOR, ids=lambda v: str(v))
def test_an_editor_gets_what_the_desk_always_answered(
    editor: httpx.Client, method: str, path: str, expected: Answer
) -> None:
    check(editor, method, path, expected)


@pytest.mark.parametrize(("method", "path", "expected"), ADMIN, ids=lambda v: str(v))
def test_an_admin_gets_what_the_desk_always_answered(
    admin: httpx.Client, method: str, path: str, expected: Answer
) -> None:
    check(admin, method, path, expected)


def test_a_cross_site_post_is_refused_before_anything_else(editor: httpx.Client) -> None:
    for path in ("/desk/publish", "/desk/logout", "/desk/admin/users", "/desk/login"):
        check(editor, "POST", path, Answer(403), headers={"Sec-Fetch-Site": "cross-site"})
    # Safe methods are not refused: the page itself may be linked from anywhere.
    check(editor, "GET", "/desk/compose", Answer(200), headers={"Sec-Fetch-Site": "cross-site"})


def test_static_files_keep_their_own_cache_rule(server: TickerServer) -> None:
    with desk_client(server.base) as client:
        page = client.get("/desk/login").text
        start = page.index("/desk/static/desk.css?v=")
        versioned = page[start : page.index('"', start)]
        assert "immutable" in client.get(versioned).headers["cache-control"]
        assert client.get("/desk/static/desk.css").headers["cache-control"] == "no-cache"
        assert client.get("/desk/login").headers["cache-control"] == "no-store"


def test_the_catch_all_page_says_nothing_is_here(server: TickerServer) -> None:
    with desk_client(server.base) as client:
        client.cookies.set("ticker_desk_lang", "en", path="/desk")
        r = client.get("/desk/nowhere")
        assert r.status_code == 404 and "Nothing here." in r.text
        assert "error.not_found" not in r.text  # once shown raw: a message key, not a sentence


@pytest.mark.parametrize("hours", ["²", "٦", "+6", "0", "7", "99999999999"])
def test_a_channel_lifetime_off_the_list_is_a_form_error(
    redis_server: RedisServer, server: TickerServer, hours: str
) -> None:
    """ "²".isdigit() is True and int("²") raises: the admin page answered 500."""
    with desk_client(server.base) as client:
        client.cookies.set("ticker_desk_lang", "en", path="/desk")
        csrf = login(client, add_user(redis_server.url, "admin"))
        form = {"csrf": csrf, "title": "Sport", "lang": "ar", "timezone": "Asia/Beirut"}
        channel = unique("sq")
        r = client.post("/desk/admin/channels", data={**form, "id": channel, "ttl_hours": hours})
        assert r.status_code == 422, r.text
        assert "Choose a lifetime from the list." in r.text
        r = client.post("/desk/admin/channels/main", data={**form, "ttl_hours": hours})
        assert r.status_code == 422 and "Choose a lifetime from the list." in r.text
        # The same form with a lifetime from the list saves.
        r = client.post("/desk/admin/channels", data={**form, "id": channel, "ttl_hours": "6"})
        assert r.status_code == 303 and r.headers["location"] == "/desk/admin/channels?done=1"
        listed = httpx.get(f"{server.base}/api/v1/channels").json()["channels"]
        saved = next(c for c in listed if c["id"] == channel)
        assert saved["default_ttl_seconds"] == 6 * 3600 and saved["title"] == "Sport"
