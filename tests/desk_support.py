"""Helpers for the desk's tests: accounts made with the real CLI, and logging in over
plain HTTP (httpx) or in Chromium (Playwright)."""

from __future__ import annotations

import itertools
import os
import re
from typing import TYPE_CHECKING

import httpx

from tests.support import cli
from ticker.auth.sessions import COOKIE
from ticker.store.desk import session_digest
from ticker.store.keys import Keys

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "correct horse 42"
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}x{os.getpid() % 10000}"


def add_user(redis_url: str, role: str = "editor", *channels: str, name: str = "") -> str:
    """A new account (through `ticker user add`, as an operator would) with PASSWORD."""
    name = name or unique(role)
    args = ["user", "add", name, "--role", role]
    for channel in channels:
        args += ["--channel", channel]
    cli(redis_url, *args, input=PASSWORD + "\n")
    return name


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name!r} in the page"
    return match.group(1)


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login_attempt(
    client: httpx.Client, name: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    form = client.get("/desk/login")
    return client.post(
        "/desk/login",
        data={"csrf": hidden(form.text, "csrf"), "name": name, "password": password},
        headers=headers,
    )


def login(client: httpx.Client, name: str, password: str = PASSWORD) -> str:
    """Log the client in; returns the session's CSRF token (from the compose page)."""
    r = login_attempt(client, name, password)
    assert r.status_code == 303, r.text
    page = client.get("/desk/compose")
    assert page.status_code == 200
    return csrf_of(page.text)


def session_key(client: httpx.Client) -> str:
    """The Redis key of the client's desk session."""
    return session_key_of(client.cookies[COOKIE])


def session_key_of(cookie: str) -> str:
    """The Redis key of the session in a cookie value (`id.timestamp.signature`)."""
    return Keys("ticker:").session(session_digest(cookie.split(".")[0]))


def desk_client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, follow_redirects=False, timeout=10)


def browser_login(page: Page, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/desk/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("form button[type=submit]")
    page.wait_for_url("**/desk/compose**")
