"""The desk in Debian's Chromium (Playwright, sync API) against a real server and Redis:
the editor's whole path, Redis failing mid-submit, no JavaScript, both languages,
and screenshots at desktop and phone widths."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
)

from tests.desk_support import add_user, browser_login
from tests.own_store import own_redis, own_server, own_token  # noqa: F401 (fixtures)
from tests.support import RedisServer, TickerServer, cli

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def items(base: str, channel: str) -> list[dict]:
    return httpx.get(f"{base}/api/v1/channels/{channel}/items").json()["items"]


class Console:
    """Console errors and CSP violations of a page: there must be none."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _message(self, message: ConsoleMessage) -> None:
        # A failed fetch is logged by the browser itself (the Redis test causes 503s).
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP, locale="ar-LB", timezone_id="Asia/Beirut")
    yield ctx
    ctx.close()


def test_publish_correct_retract_live_and_audited(
    browser: Browser,
    context: BrowserContext,
    server: TickerServer,
    redis_server: RedisServer,
    channel: str,
    artifacts: Path,
) -> None:
    editor = add_user(redis_server.url, "editor", channel)
    admin = add_user(redis_server.url, "admin")
    page = context.new_page()
    console = Console(page)
    browser_login(page, server.base, editor)
    page.select_option("#channel", channel)
    expect(page.locator("#live-state")).to_have_class("live-state on")

    text = "عاجل: إغلاق مطار بيروت حتى 18:00 بسبب الطقس (AFP)"
    page.fill("#text", text)
    expect(page.locator("#text-count")).to_have_text(f"{len(text)} / 280")
    expect(page.locator("#preview .body")).to_have_text(text)
    expect(page.locator("#preview time")).to_have_text(_hhmm_now())
    page.press("#text", "Control+Enter")
    started = time.monotonic()
    row = page.locator("#live-list li.item", has_text=text)
    expect(row).to_be_visible(timeout=1000)
    expect(page.locator("#page-message")).to_have_text("نُشر الخبر.")
    expect(page.locator("#text")).to_have_value("")
    _appears_on_embed(server.base, channel, text, started)

    corrected = "عاجل: إعادة فتح مطار بيروت عند 18:30 (AFP)"
    row.locator("[data-action=correct]").click()
    row.locator("textarea").fill(corrected)
    row.locator("button[type=submit]").click()
    row = page.locator("#live-list li.item", has_text=corrected)
    expect(row).to_be_visible(timeout=2000)
    expect(row.locator(".corrected")).to_be_visible()
    assert len(items(server.base, channel)) == 1
    page.screenshot(path=artifacts / "desk-compose-live-1280.png", full_page=True)

    row.locator("[data-action=retract]").click()
    dialog = page.locator("#retract-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("button[value=confirm]").click()  # no reason yet: refused
    expect(dialog.locator("#retract-reason-error")).to_be_visible()
    page.fill("#retract-reason", "خبر غير مؤكد")
    dialog.locator("button[value=confirm]").click()
    expect(page.locator("#live-list li.item", has_text=corrected)).to_have_count(0)
    expect(page.locator("#live-message")).to_have_text("سُحب الخبر.")
    page.locator("#ended summary").click()
    expect(page.locator("#ended-list li", has_text=corrected)).to_contain_text("خبر غير مؤكد")
    assert items(server.base, channel) == []
    assert console.errors == []

    boss = browser.new_context(viewport=DESKTOP, locale="ar-LB")
    audit = boss.new_page()
    browser_login(audit, server.base, admin)
    audit.goto(f"{server.base}/desk/audit?channel={channel}")
    rows = audit.locator("table.audit tbody tr")
    expect(rows).to_have_count(4)  # the three changes, and the channel's creation
    types = [rows.nth(i).get_attribute("data-type") for i in range(3)]
    assert types == ["retract", "update", "publish"]
    for i in range(3):
        expect(rows.nth(i).locator(".who")).to_have_text(editor)
    expect(rows.nth(1)).to_contain_text(text)  # the old text
    expect(rows.nth(1)).to_contain_text(corrected)  # and the new one
    expect(rows.nth(0)).to_contain_text("خبر غير مؤكد")
    audit.screenshot(path=artifacts / "desk-audit-1280.png", full_page=True)
    boss.close()


def _hhmm_now() -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Beirut")).strftime("%H:%M")


def _appears_on_embed(base: str, channel: str, text: str, since: float) -> None:
    """The published item is on /embed/{channel} (the server-rendered page) within a
    second of the publish."""
    while True:
        page = httpx.get(f"{base}/embed/{channel}", timeout=5)
        assert page.status_code == 200, f"/embed/{channel} answered {page.status_code}"
        # Compared as text: the page wraps digit groups («18:00») in <bdi> (ticker/bidi.py).
        if text in html.unescape(re.sub(r"<[^>]+>", "", page.text)):
            return
        assert time.monotonic() - since < 1.0, "not on /embed within one second"
        time.sleep(0.05)


def test_redis_stopped_during_submit_keeps_the_text(browser: Browser, artifacts: Path) -> None:
    redis = RedisServer().start()
    ticker = TickerServer(redis.url).start()
    ctx = browser.new_context(viewport=DESKTOP, locale="ar")
    try:
        editor = add_user(redis.url, "editor", "main")
        page = ctx.new_page()
        browser_login(page, ticker.base, editor)
        text = "وزارة الصحة: 12 إصابة في حادث سير على طريق الشام"
        page.fill("#text", text)
        redis.stop()
        page.press("#text", "Control+Enter")
        message = page.locator("#page-message")
        expect(message).to_contain_text("غير متاحة")
        expect(message).to_contain_text("نصّك باقٍ")
        expect(page.locator("#text")).to_have_value(text)
        page.screenshot(path=artifacts / "desk-redis-down-1280.png")
        # A reload while Redis is down: an error page that says the draft is kept ...
        page.reload()
        expect(page.locator("main")).to_contain_text("مسودتك محفوظة")
        # ... and once Redis is back, the text is in the form again, and publishes once.
        redis.start()
        page.goto(f"{ticker.base}/desk/compose")
        expect(page.locator("#text")).to_have_value(text)
        page.press("#text", "Control+Enter")
        expect(page.locator("#page-message")).to_have_text("نُشر الخبر.")
        page.reload()
        expect(page.locator("#text")).to_have_value("")  # the draft is gone once published
        assert [i["text"] for i in items(ticker.base, "main")] == [text]
    finally:
        ctx.close()
        ticker.stop()
        redis.kill()


def test_works_without_javascript(
    browser: Browser, server: TickerServer, redis_server: RedisServer, channel: str
) -> None:
    editor = add_user(redis_server.url, "editor", channel)
    ctx = browser.new_context(viewport=PHONE, locale="ar", java_script_enabled=False)
    try:
        page = ctx.new_page()
        browser_login(page, server.base, editor)
        page.select_option("#channel", channel)
        page.fill("#text", "بلا جافاسكربت: نص أول")
        page.click("#publish")
        expect(page.locator("#page-message")).to_have_text("نُشر الخبر.")
        row = page.locator("#live-list li.item", has_text="نص أول")
        expect(row).to_be_visible()
        row.locator("[data-action=correct]").click()
        page.fill("#text", "بلا جافاسكربت: نص مصحح")
        page.click("form button[type=submit].primary")
        expect(page.locator("#page-message")).to_have_text("صُحّح الخبر في كل مكان.")
        row = page.locator("#live-list li.item", has_text="نص مصحح")
        row.locator("[data-action=retract]").click()
        page.fill("#reason", "اختبار")
        page.click("form button[type=submit].danger")
        expect(page.locator("#page-message")).to_have_text("سُحب الخبر من كل مكان.")
        assert items(server.base, channel) == []
    finally:
        ctx.close()


def test_english_and_keyboard(
    browser: Browser, server: TickerServer, redis_server: RedisServer, channel: str
) -> None:
    editor = add_user(redis_server.url, "editor", channel)
    ctx = browser.new_context(viewport=DESKTOP, locale="en-US")
    try:
        page = ctx.new_page()
        console = Console(page)
        page.goto(f"{server.base}/desk/login")
        html = page.locator("html")
        expect(html).to_have_attribute("lang", "en")
        expect(html).to_have_attribute("dir", "ltr")
        # Keyboard only: the name field has focus, Tab to the password, Enter logs in.
        page.keyboard.type(editor)
        page.keyboard.press("Tab")
        page.keyboard.type("correct horse 42")
        page.keyboard.press("Enter")
        page.wait_for_url("**/desk/compose**")
        expect(page.locator("#text")).to_be_focused()
        # The item text follows the channel's language, not the interface's.
        expect(page.locator("#text")).to_have_attribute("dir", "rtl")
        page.keyboard.type("Keyboard only: an item")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#page-message")).to_have_text("Published.")
        # Focus is visible: the focused control has an outline.
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none")
        # Switch to Arabic.
        page.click("a.lang-switch[hreflang=ar]")
        expect(html).to_have_attribute("lang", "ar")
        expect(html).to_have_attribute("dir", "rtl")
        assert console.errors == []
    finally:
        ctx.close()


def test_screenshots_desktop_and_phone(
    browser: Browser,
    server: TickerServer,
    redis_server: RedisServer,
    channel: str,
    token: str,
    artifacts: Path,
) -> None:
    """The pages a person should look at: login, compose with the live list, an admin page."""
    editor = add_user(redis_server.url, "editor", channel)
    admin = add_user(redis_server.url, "admin")
    cli(redis_server.url, "user", "channels", editor, "--channel", channel)
    samples = [
        ("عاجل | الرئيس اللبناني: لا تراجع عن قرار حصر السلاح بيد الدولة", "urgent", None),
        (
            "وزارة الطاقة: انقطاع الكهرباء عن 3 مناطق في بيروت حتى الساعة 18:00",
            "normal",
            "https://example.com/energy",
        ),
        ("الأمم المتحدة (UN): وصول 40 شاحنة مساعدات إلى غزة عبر معبر رفح", "urgent", None),
    ]
    for text, priority, url in samples:
        httpx.post(
            f"{server.base}/api/v1/channels/{channel}/items",
            json={"text": text, "priority": priority, "url": url},
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()
    for name, viewport in (("1280", DESKTOP), ("390", PHONE)):
        ctx = browser.new_context(viewport=viewport, locale="ar-LB", timezone_id="Asia/Beirut")
        page = ctx.new_page()
        console = Console(page)
        page.goto(f"{server.base}/desk/login")
        page.screenshot(path=artifacts / f"desk-login-{name}.png", full_page=True)
        browser_login(page, server.base, editor)
        page.select_option("#channel", channel)
        page.fill("#text", "الجيش: فتح طريق المطار أمام السيارات عند الساعة 20:00")
        expect(page.locator("#live-list li.item")).to_have_count(3)
        page.locator("body").click(position={"x": 5, "y": 5})
        page.screenshot(path=artifacts / f"desk-compose-{name}.png", full_page=True)
        page.goto(f"{server.base}/desk/logout")  # a GET: nothing happens
        ctx.close()
        assert console.errors == []
        ctx = browser.new_context(viewport=viewport, locale="ar-LB")
        page = ctx.new_page()
        browser_login(page, server.base, admin)
        page.goto(f"{server.base}/desk/admin/users")
        page.screenshot(path=artifacts / f"desk-admin-users-{name}.png", full_page=True)
        ctx.close()
