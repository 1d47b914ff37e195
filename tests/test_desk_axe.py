"""axe-core (WCAG 2.2 A and AA) on every desk page, in Debian's Chromium against a real
server and Redis: login, compose with live and ended items and with the retract dialog
open, audit, the admin pages (fleet status included) and the password page, at 1280
and 390 px, in Arabic, and the compose page in French too."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.axe_support import assert_accessible, install
from tests.desk_support import add_user, browser_login
from tests.own_store import own_redis, own_server, own_token  # noqa: F401 (fixtures)
from tests.support import RedisServer, TickerServer, cli

LANG_COOKIE = "ticker_desk_lang"
WIDTHS: list[ViewportSize] = [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]
PAGES = [
    ("audit", "/desk/audit"),
    ("channels", "/desk/admin/channels"),
    ("users", "/desk/admin/users"),
    ("tokens", "/desk/admin/tokens"),
    ("password", "/desk/password"),
    ("status", "/desk/admin/status"),
]


def _post(redis_server: RedisServer, channel: str, text: str) -> dict:
    return dict(json.loads(cli(redis_server.url, "post", "--channel", channel, text).stdout))


def _compose(page: Page, base: str, channel: str) -> None:
    """The compose page with its live list and its open "Recently ended" list loaded."""
    page.goto(f"{base}/desk/compose")
    page.select_option("#channel", channel)
    expect(page.locator("#live-state")).to_have_class("live-state on")
    expect(page.locator("#live-list li.item").first).to_be_visible()
    page.locator("#ended summary").click()
    expect(page.locator("#ended-list li").first).to_be_visible()


@pytest.mark.parametrize("lang", ["ar", "fr"])
def test_axe_finds_nothing_on_the_desk(
    browser: Browser,
    server: TickerServer,
    redis_server: RedisServer,
    channel: str,
    api: httpx.Client,
    lang: str,
    artifacts: Path,
) -> None:
    admin = add_user(redis_server.url, "admin")
    _post(redis_server, channel, "الجيش: فتح طريق المطار أمام السيارات عند الساعة 20:00")
    gone = _post(redis_server, channel, "خبر سُحب: تأجيل جلسة مجلس النواب")
    api.request(
        "DELETE", f"/api/v1/channels/{channel}/items/{gone['id']}", json={"reason": "موعد جديد"}
    ).raise_for_status()
    ctx = browser.new_context(locale="ar-LB", timezone_id="Asia/Beirut")
    ctx.add_cookies([{"name": LANG_COOKIE, "value": lang, "url": f"{server.base}/desk/"}])
    install(ctx)
    try:
        page = ctx.new_page()
        checked = 0
        if lang == "ar":
            for viewport in WIDTHS:
                page.set_viewport_size(viewport)
                page.goto(f"{server.base}/desk/login")
                assert_accessible(page, f"login ({lang}, {viewport['width']} px)")
                checked += 1
        browser_login(page, server.base, admin)
        for viewport in WIDTHS:
            page.set_viewport_size(viewport)
            width = viewport["width"]
            _compose(page, server.base, channel)
            assert_accessible(page, f"compose ({lang}, {width} px)")
            page.locator("#live-list li.item").first.locator("[data-action=retract]").click()
            expect(page.locator("#retract-dialog")).to_be_visible()
            assert_accessible(page, f"compose, retract dialog open ({lang}, {width} px)")
            page.screenshot(path=artifacts / f"desk-axe-{lang}-retract-{width}.png")
            page.keyboard.press("Escape")
            expect(page.locator("#retract-dialog")).to_be_hidden()
            checked += 2
            if lang != "ar":
                continue
            for name, path in PAGES:
                page.goto(f"{server.base}{path}")
                expect(page.locator("h1").first).to_be_visible()
                assert_accessible(page, f"{name} ({lang}, {width} px)")
                checked += 1
        assert checked == (18 if lang == "ar" else 4)
    finally:
        ctx.close()
