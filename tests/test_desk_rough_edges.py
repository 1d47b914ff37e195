"""The desk's rough edges of a first-use trial, fixed, in Debian's Chromium against a real
server and Redis: the priority back to urgent after each publish, the preview's
placeholder in the desk's direction, labelled times in "Recently ended", a dimmed page
behind the retract dialog, the default channel's title; and the desk in French and
Arabic at desktop and phone widths (screenshots in the artifacts folder)."""

from __future__ import annotations

import json
import struct
import time
import zlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
)

from tests.desk_support import add_user, browser_login
from tests.own_store import own_redis, own_server, own_token  # noqa: F401 (fixtures)
from tests.support import RedisServer, TickerServer, cli, wait_for_channel
from tests.test_desk_browser import Console
from tests.waiting import wait_for

LANG_COOKIE = "ticker_desk_lang"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


def _context(browser: Browser, base: str, lang: str, *, script: bool = True) -> BrowserContext:
    """A browser whose desk speaks `lang` (the header's switch sets the same cookie)."""
    ctx = browser.new_context(
        viewport=DESKTOP,
        locale="ar-LB",
        timezone_id="Asia/Beirut",
        java_script_enabled=script,
    )
    ctx.add_cookies([{"name": LANG_COOKIE, "value": lang, "url": f"{base}/desk/"}])
    return ctx


def _publish(base: str, editor_page: Page, text: str, priority: str | None = None) -> None:
    if priority:
        editor_page.check(f"input[name=priority][value={priority}]")
    editor_page.fill("#text", text)
    editor_page.press("#text", "Control+Enter")
    expect(editor_page.locator("#live-list li.item", has_text=text)).to_be_visible(timeout=5000)


def _api_items(base: str, channel: str) -> list[dict]:
    return httpx.get(f"{base}/api/v1/channels/{channel}/items").json()["items"]


def test_priority_returns_to_urgent_after_each_publish(
    browser: Browser, server: TickerServer, redis_server: RedisServer, channel: str
) -> None:
    editor = add_user(redis_server.url, "editor", channel)
    ctx = _context(browser, server.base, "ar")
    try:
        page = ctx.new_page()
        console = Console(page)
        browser_login(page, server.base, editor)
        page.select_option("#channel", channel)
        urgent = page.locator("input[name=priority][value=urgent]")
        expect(urgent).to_be_checked()
        _publish(server.base, page, "وزارة الصحة: حملة تلقيح في الجنوب غدًا", "normal")
        expect(urgent).to_be_checked()  # the next item is urgent unless the editor says not
        _publish(server.base, page, "عاجل: انقطاع الطريق الساحلي عند خلدة")
        by_text = {i["text"]: i["priority"] for i in _api_items(server.base, channel)}
        assert by_text == {
            "وزارة الصحة: حملة تلقيح في الجنوب غدًا": "normal",
            "عاجل: انقطاع الطريق الساحلي عند خلدة": "urgent",
        }
        assert console.errors == []
    finally:
        ctx.close()

    # Without JavaScript the form posts and the page comes back: urgent again too.
    plain = _context(browser, server.base, "ar", script=False)
    try:
        page = plain.new_page()
        browser_login(page, server.base, editor)
        page.select_option("#channel", channel)
        page.check("input[name=priority][value=normal]")
        page.fill("#text", "بلدية بيروت: إغلاق شارع الحمرا للصيانة ليلًا")
        page.click("#publish")
        page.wait_for_url("**/desk/compose?channel=*done=published*")
        expect(page.locator("input[name=priority][value=urgent]")).to_be_checked()
    finally:
        plain.close()


def _char_x(page: Page, selector: str, index: int) -> float:
    """The left edge on screen of one character of an element's text."""
    return float(
        page.evaluate(
            """([selector, index]) => {
                const node = document.querySelector(selector).firstChild;
                const range = document.createRange();
                const at = index < 0 ? node.length + index : index;
                range.setStart(node, at);
                range.setEnd(node, at + 1);
                return range.getBoundingClientRect().left;
            }""",
            [selector, index],
        )
    )


@pytest.mark.parametrize(
    ("lang", "placeholder"),
    [("en", "The item will show here."), ("fr", "La dépêche s’affichera ici.")],
)
def test_the_preview_placeholder_keeps_its_period_at_its_end(
    browser: Browser,
    server: TickerServer,
    redis_server: RedisServer,
    channel: str,
    lang: str,
    placeholder: str,
    artifacts: Path,
) -> None:
    editor = add_user(redis_server.url, "editor", channel)
    ctx = _context(browser, server.base, lang)
    try:
        page = ctx.new_page()
        browser_login(page, server.base, editor)
        page.select_option("#channel", channel)  # an Arabic channel: a right-to-left box
        expect(page.locator("#preview .preview-box")).to_have_attribute("dir", "rtl")
        sentence = "#preview .body bdi"
        expect(page.locator(sentence)).to_have_text(placeholder)
        # Left to right, in the desk's language: the period is right of the first letter.
        assert _char_x(page, sentence, -1) > _char_x(page, sentence, 0)
        expect(page.locator(sentence)).to_have_attribute("lang", lang)
        page.locator("#preview").screenshot(path=artifacts / f"desk-preview-empty-{lang}.png")
        # The item itself is in the channel's direction, as readers will see it.
        page.fill("#text", "الجيش: فتح الطريق.")
        expect(page.locator(sentence)).to_have_attribute("dir", "rtl")
        assert _char_x(page, sentence, -1) < _char_x(page, sentence, 0)
    finally:
        ctx.close()


def _hhmm(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(ZoneInfo("Asia/Beirut")).strftime("%H:%M")


@pytest.mark.parametrize(
    ("lang", "published", "retracted", "expired"),
    [
        ("en", "published {}", "retracted {}", "expired {}"),
        ("fr", "publiée à {}", "retirée à {}", "expirée à {}"),
        ("ar", "نُشر {}", "سُحب {}", "انتهى {}"),
    ],
)
def test_recently_ended_labels_both_times(
    browser: Browser,
    server: TickerServer,
    redis_server: RedisServer,
    channel: str,
    lang: str,
    published: str,
    retracted: str,
    expired: str,
) -> None:
    editor = add_user(redis_server.url, "editor", channel)
    earlier = _post(redis_server, channel, "خبر سُحب قبل فتح الصفحة")
    _expire_now(redis_server, server, channel, _post(redis_server, channel, "خبر تنتهي مدته"))
    ctx = _context(browser, server.base, lang)
    try:
        page = ctx.new_page()
        browser_login(page, server.base, editor)
        page.select_option("#channel", channel)
        _retract(page, earlier["text"], "خبر غير مؤكد")
        page.reload()
        page.locator("#ended summary").click()
        # Rendered by the server, then by the page's script for one retracted live.
        row = page.locator("#ended-list li", has_text=earlier["text"])
        expect(row.locator(".published")).to_have_text(
            published.format(_hhmm(earlier["created_at"]))
        )
        expect(row.locator(".ended-at")).to_contain_text(retracted.format(""))
        expect(row.locator(".why bdi")).to_have_text("خبر غير مؤكد")
        gone = page.locator("#ended-list li.expire", has_text="خبر تنتهي مدته")
        expect(gone.locator(".ended-at")).to_contain_text(expired.format(""))
        expect(gone.locator(".published")).to_contain_text(published.format(""))

        live = _post(redis_server, channel, "خبر يُسحب والصفحة مفتوحة")
        expect(page.locator("#live-list li.item", has_text=live["text"])).to_be_visible()
        _retract(page, live["text"], "تصحيح المصدر")
        row = page.locator("#ended-list li", has_text=live["text"])
        expect(row.locator(".published")).to_have_text(published.format(_hhmm(live["created_at"])))
        expect(row.locator(".ended-at")).to_contain_text(retracted.format(""))
        for label in row.locator(".when").all():
            assert label.text_content() and any(ch.isdigit() for ch in label.text_content() or "")
    finally:
        ctx.close()


def _expire_now(redis_server: RedisServer, server: TickerServer, channel: str, item: dict) -> None:
    """Bring the item's expiry to now (the minimum lifetime is a minute); the server's
    expiry job, every half second here, then ends it as it would at its time."""
    redis_server.client().zadd(
        "ticker:expiry", {f"{channel}/{item['id']}": int(time.time() * 1000)}
    )
    wait_for(
        lambda: all(i["id"] != item["id"] for i in _api_items(server.base, channel)),
        "the retracted item gone from the API",
    )


def _post(redis_server: RedisServer, channel: str, text: str) -> dict:
    return dict(json.loads(cli(redis_server.url, "post", "--channel", channel, text).stdout))


def _retract(page: Page, text: str, reason: str, channel: str | None = None) -> None:
    # On the channel's own rows when given: the live list shows every channel's items.
    rows = f'#live-list li.item[data-channel="{channel}"]' if channel else "#live-list li.item"
    # The desk's script marks the rows it has taken over (data-sig): clicked before that, the
    # link goes to the page that works without JavaScript, which has no dialog.
    page.wait_for_selector("#live-list li.item[data-sig]", state="attached")
    page.locator(rows, has_text=text).locator("[data-action=retract]").click()
    page.fill("#retract-reason", reason)
    page.locator("#retract-dialog button[value=confirm]").click()
    expect(page.locator("#live-list li.item", has_text=text)).to_have_count(0)


def _pixel(page: Page, x: int, y: int) -> tuple[int, int, int]:
    """The colour on screen at (x, y): a 1×1 screenshot, decoded. With one pixel every
    PNG row filter leaves the bytes as they are, so no unfiltering is needed."""
    png = page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1})
    data, offset = b"", 8
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        if kind == b"IDAT":
            data += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    row = zlib.decompress(data)
    return row[1], row[2], row[3]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_the_retract_dialog_dims_the_page_behind_it(
    browser: Browser,
    server: TickerServer,
    redis_server: RedisServer,
    channel: str,
    viewport: ViewportSize,
    artifacts: Path,
) -> None:
    editor = add_user(redis_server.url, "editor", channel)
    item = _post(redis_server, channel, "خبر للسحب: اختبار الخلفية المعتمة")
    ctx = _context(browser, server.base, "ar")
    try:
        page = ctx.new_page()
        page.set_viewport_size(viewport)
        browser_login(page, server.base, editor)
        page.select_option("#channel", channel)
        row = page.locator("#live-list li.item", has_text=item["text"])
        expect(row).to_be_visible()
        spot = (4, viewport["height"] - 4)  # a corner the dialog never covers
        before = _pixel(page, *spot)
        row.locator("[data-action=retract]").click()
        expect(page.locator("#retract-dialog")).to_be_visible()
        page.wait_for_function(
            "getComputedStyle(document.getElementById('retract-dialog'), '::backdrop')"
            ".backgroundColor !== 'rgba(0, 0, 0, 0)'"
        )
        after = _pixel(page, *spot)
        assert sum(after) < 0.7 * sum(before), (before, after)
        page.screenshot(path=artifacts / f"desk-retract-dialog-{viewport['width']}.png")
        page.keyboard.press("Escape")
        expect(page.locator("#retract-dialog")).to_be_hidden()
        assert _pixel(page, *spot) == before
    finally:
        ctx.close()


def test_a_fresh_install_titles_main_as_a_channel_not_as_a_priority() -> None:
    fresh = RedisServer().start()
    ticker = TickerServer(fresh.url).start()
    try:
        channels = httpx.get(f"{ticker.base}/api/v1/channels").json()["channels"]
        main = next(c for c in channels if c["id"] == "main")
        assert main["title"] == "الرئيسية"  # not «عاجل», the urgent priority's word
        cli(fresh.url, "channel", "add", "main", "--title", "أخبار لبنان")  # docs/desk.md
        wait_for_channel(ticker.base, "main", title="أخبار لبنان")
    finally:
        ticker.stop()
        fresh.kill()


PAGES = [
    ("compose", "/desk/compose"),
    ("audit", "/desk/audit"),
    ("channels", "/desk/admin/channels"),
    ("users", "/desk/admin/users"),
    ("tokens", "/desk/admin/tokens"),
    ("password", "/desk/password"),
]
HEADINGS = {
    "fr": {
        "login": "Connexion",
        "compose": "Nouvelle dépêche",
        "audit": "Journal d’audit",
        "channels": "Canaux",
        "users": "Utilisateurs",
        "tokens": "Jetons d’API",
        "password": "Changer votre mot de passe",
    },
    "ar": {
        "login": "تسجيل الدخول",
        "compose": "خبر جديد",
        "audit": "سجل التدقيق",
        "channels": "القنوات",
        "users": "المستخدمون",
        "tokens": "مفاتيح الواجهة",
        "password": "تغيير كلمة المرور",
    },
}


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_every_page_in_french_and_arabic_at_both_widths(
    browser: Browser,
    server: TickerServer,
    redis_server: RedisServer,
    channel: str,
    lang: str,
    artifacts: Path,
) -> None:
    admin = add_user(redis_server.url, "admin")
    _post(redis_server, channel, "الجيش: فتح طريق المطار أمام السيارات عند الساعة 20:00")
    ended = _post(redis_server, channel, "خبر سُحب: تأجيل جلسة مجلس النواب")
    ctx = _context(browser, server.base, lang)
    try:
        page = ctx.new_page()
        console = Console(page)
        direction = "rtl" if lang == "ar" else "ltr"
        for viewport in (DESKTOP, PHONE):
            page.set_viewport_size(viewport)
            width = viewport["width"]
            page.goto(f"{server.base}/desk/login")
            _check_page(page, lang, direction, HEADINGS[lang]["login"])
            page.screenshot(path=artifacts / f"desk-{lang}-login-{width}.png", full_page=True)
        browser_login(page, server.base, admin)
        page.select_option("#channel", channel)
        _retract(page, ended["text"], "موعد جديد", channel)
        for viewport in (DESKTOP, PHONE):
            page.set_viewport_size(viewport)
            width = viewport["width"]
            for name, path in PAGES:
                page.goto(f"{server.base}{path}")
                _check_page(page, lang, direction, HEADINGS[lang][name])
                if name == "compose":
                    page.select_option("#channel", channel)
                    page.locator("#ended summary").click()
                    expect(page.locator("#live-state")).to_have_class("live-state on")
                page.screenshot(path=artifacts / f"desk-{lang}-{name}-{width}.png", full_page=True)
        assert console.errors == []
    finally:
        ctx.close()


def _check_page(page: Page, lang: str, direction: str, heading: str) -> None:
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", direction)
    expect(page.locator("h1").first).to_have_text(heading)
    # The other two languages are offered, each in its own name.
    expect(page.locator("a.lang-switch")).to_have_count(2)
    # Nothing wider than the screen (the French is longer than the English).
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url}: {overflow}px wider than the window"


def test_french_from_the_browser_and_from_the_switch(
    browser: Browser, server: TickerServer
) -> None:
    ctx = browser.new_context(viewport=DESKTOP, locale="fr-LB")  # Accept-Language: fr-LB
    try:
        page = ctx.new_page()
        page.goto(f"{server.base}/desk/login")
        _check_page(page, "fr", "ltr", "Connexion")
        page.click("a.lang-switch[hreflang=ar]")
        _check_page(page, "ar", "rtl", "تسجيل الدخول")
        page.goto(f"{server.base}/desk/login")  # the choice outweighs the browser's
        _check_page(page, "ar", "rtl", "تسجيل الدخول")
        page.click("a.lang-switch[hreflang=fr]")
        _check_page(page, "fr", "ltr", "Connexion")
    finally:
        ctx.close()
