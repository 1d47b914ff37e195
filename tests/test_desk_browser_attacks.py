"""Finding 9 in Chromium itself: another site's page cannot log an editor
out nor plant a draft, while the desk's own forms keep working, including the text
kept across a new login.

The attacker's pages are served by Playwright's router from http://localhost:1 (another
site than the desk's http://127.0.0.1:PORT), so the browser sends exactly what it
would send from a real foreign site: `Sec-Fetch-Site: cross-site`, its `Origin`, and
no SameSite=Lax cookie.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.desk_support import add_user, browser_login, session_key_of
from tests.support import RedisServer, TickerServer
from ticker.auth.sessions import COOKIE

EVIL = "http://localhost:1"
PLANTED_TEXT = "عاجل: خبر مزروع من موقع آخر"
PLANTED_URL = "https://evil.example/planted"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(locale="ar-LB", timezone_id="Asia/Beirut")
    yield ctx
    ctx.close()


def attacker_page(context: BrowserContext, action: str, fields: dict[str, str]) -> None:
    """Serve, at EVIL, a page with a form that posts `fields` to `action`."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    html = f'<!doctype html><form method="post" action="{escape(action)}">{inputs}</form>'

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    context.route(f"{EVIL}/**", fulfil)


def submit_attack(page: Page) -> str:
    """Open the attacker's page and let it post its form; the desk's answer."""
    page.goto(f"{EVIL}/attack.html")
    with page.expect_navigation():
        page.evaluate("document.forms[0].submit()")
    return page.content()


def session_cookie(context: BrowserContext) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == COOKIE), None)


def test_cross_site_logout_leaves_the_session_alive(
    context: BrowserContext, server: TickerServer, redis_server: RedisServer, channel: str
) -> None:
    editor = add_user(redis_server.url, "editor", channel)
    page = context.new_page()
    browser_login(page, server.base, editor)
    cookie = session_cookie(context)
    assert cookie
    attacker_page(context, f"{server.base}/desk/logout", {})
    submit_attack(page)
    assert session_cookie(context) == cookie  # the browser still has it
    page.goto(f"{server.base}/desk/compose")
    assert "/desk/compose" in page.url  # and it still works on the server
    expect(page.locator("#text")).to_be_visible()
    # The desk's own Log out button still works.
    page.click("form[action='/desk/logout'] button")
    page.wait_for_url("**/desk/login?out=1")
    assert session_cookie(context) is None


@pytest.mark.parametrize("state", ["never logged in", "session ended"])
def test_cross_site_draft_plant_shows_nothing_after_login(
    context: BrowserContext,
    server: TickerServer,
    redis_server: RedisServer,
    channel: str,
    state: str,
) -> None:
    editor = add_user(redis_server.url, "editor", channel)
    page = context.new_page()
    if state == "session ended":
        browser_login(page, server.base, editor)
        redis_server.client().delete(session_key_of(session_cookie(context) or ""))
    attacker_page(
        context,
        f"{server.base}/desk/publish",
        {
            "channel": channel,
            "text": PLANTED_TEXT,
            "url": PLANTED_URL,
            "priority": "urgent",
            "ttl_seconds": "3600",
            "idempotency_key": "planted",
        },
    )
    answer = submit_attack(page)
    assert PLANTED_TEXT not in answer and "evil.example" not in answer
    browser_login(page, server.base, editor)
    expect(page.locator("#text")).to_have_value("")
    assert PLANTED_TEXT not in page.content() and "evil.example" not in page.content()
    expect(page.locator("#url")).to_have_value("")


def test_own_text_comes_back_after_the_session_ended_without_javascript(
    browser: Browser, server: TickerServer, redis_server: RedisServer, channel: str
) -> None:
    """The same-origin flow the fix must keep: the editor's own form, posted after the
    session ended, brings its text through the login into the compose form."""
    editor = add_user(redis_server.url, "editor", channel)
    ctx = browser.new_context(locale="ar", java_script_enabled=False)
    try:
        page = ctx.new_page()
        browser_login(page, server.base, editor)
        page.select_option("#channel", channel)
        text = "نص المحرر نفسه بعد انتهاء الجلسة"
        page.fill("#text", text)
        redis_server.client().delete(session_key_of(session_cookie(ctx) or ""))
        page.click("#publish")
        expect(page.locator(".kept-text")).to_have_text(text)
        page.fill("#name", editor)
        page.fill("#password", "correct horse 42")
        page.click("form button[type=submit]")
        page.wait_for_url("**/desk/compose**")
        expect(page.locator("#text")).to_have_value(text)
    finally:
        ctx.close()
