"""/demo, /embed and the widget in Chromium (4 and 6): keyboard order and
focus, the favicon and a clean console, the hint box, punctuation in mixed-direction
sentences, the phone layout, focusable scroll regions, and axe-core on every page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.axe_support import assert_accessible, install
from tests.support import TickerServer

ITEMS = [
    ("الجيش: إعادة فتح طريق المطار أمام السير", "https://example.org/1"),
    ("للاستعلام: +961 1 234 567", None),
    ("فاز الرياضي 87–79 على الحكمة في نهائي الدوري", "https://example.org/3"),
]


def new_context(browser: Browser, width: int = 1280, **options: Any) -> BrowserContext:
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="ar-LB", **options)
    install(ctx)
    return ctx


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def filled(api: httpx.Client, channel: str) -> str:
    for text, url in ITEMS:
        body = {"text": text, **({"url": url} if url else {})}
        assert api.post(f"/api/v1/channels/{channel}/items", json=body).status_code == 201
    return channel


def open_page(ctx: BrowserContext, url: str, problems: list[str]) -> Page:
    """The page, collecting console errors and failed requests (a 404 favicon is one)."""
    page = ctx.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.goto(url)
    page.wait_for_function(
        "() => [...document.querySelectorAll('breaking-ticker')].every((el) => el.shadowRoot"
        " && (el.shadowRoot.querySelector('li') || !el.shadowRoot.querySelector('.empty').hidden))"
    )
    page.wait_for_load_state("networkidle")
    return page


def test_favicon_and_a_clean_console(
    context: BrowserContext, server: TickerServer, filled: str
) -> None:
    icon = httpx.get(f"{server.base}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/vnd.microsoft.icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    for path in (f"/demo?channel={filled}", f"/embed/{filled}", f"/live/{filled}"):
        problems: list[str] = []
        page = open_page(context, server.base + path, problems)
        assert page.evaluate("() => document.querySelector('link[rel=icon]').href").endswith(
            "/favicon.ico"
        )
        assert problems == [], f"{path}: {problems}"
        page.close()


def test_keyboard_reaches_the_pause_control_first(
    context: BrowserContext, server: TickerServer, filled: str
) -> None:
    page = open_page(context, f"{server.base}/demo?channel={filled}", [])
    focused = """() => {
      let el = document.activeElement;
      while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
      const host = el.getRootNode().host;
      const style = getComputedStyle(el);
      return {
        tag: el.tagName.toLowerCase(), cls: el.className, href: el.getAttribute('href'),
        inTicker: host ? [...document.querySelectorAll('breaking-ticker')].indexOf(host) : -1,
        outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
      };
    }"""
    stops = []
    for _ in range(30):
        page.keyboard.press("Tab")
        stops.append(page.evaluate(focused))
    for ticker in (0, 1):  # the marquee across the top, the list beside the article
        inside = [s for s in stops if s["inTicker"] == ticker]
        assert inside, f"Tab never reached ticker {ticker}"
        assert inside[0]["cls"] == "pause", f"ticker {ticker}: first stop {inside[0]}"
        links = [s["href"] for s in inside[1:]]
        assert links[:2] == ["https://example.org/3", "https://example.org/1"]  # newest first
        for stop in inside:  # a visible focus ring on every stop
            assert stop["outline"] != "none" and stop["width"] >= 2, stop


def test_hint_box_and_punctuation(
    context: BrowserContext, server: TickerServer, channel: str, artifacts: Path
) -> None:
    page = open_page(context, f"{server.base}/demo?channel={channel}", [])  # empty channel
    overflow = page.evaluate(
        "() => [...document.querySelectorAll('.note pre')]"
        ".map((p) => p.scrollWidth - p.clientWidth)"
    )
    assert overflow and all(o <= 0 for o in overflow), f"the hint box cuts its command: {overflow}"
    page.screenshot(path=artifacts / "demo-empty-1280.png", full_page=True)
    # Every sentence-final period sits right beside the glyph before it (at its left, in
    # right-to-left text), never at the far side of a left-to-right code span.
    gaps = page.evaluate(
        """() => {
          const rect = (node, i) => {
            const r = document.createRange();
            r.setStart(node, i);
            r.setEnd(node, i + 1);
            return r.getClientRects()[0];
          };
          const out = [];
          for (const p of document.querySelectorAll('main p, aside p')) {
            const walker = document.createTreeWalker(p, NodeFilter.SHOW_TEXT);
            const chars = [];
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
              for (let i = 0; i < n.data.length; i++) if (n.data[i].trim()) chars.push([n, i]);
            }
            for (let k = 1; k < chars.length; k++) {
              const [n, i] = chars[k];
              if (n.data[i] !== '.') continue;
              const before = rect(...chars[k - 1]);
              const dot = rect(n, i);
              // On another line than the glyph before it, a period is as lost as far away.
              const apart = Math.abs(before.top - dot.top) > 4;
              const gap = apart ? Infinity : before.left - dot.right;
              out.push({ text: p.textContent.slice(0, 40), gap });
            }
          }
          return out;
        }"""
    )
    assert gaps, "no sentence-final periods found"
    far = [g for g in gaps if abs(g["gap"]) > 3]
    assert not far, f"periods away from their sentence: {far}"


def test_phone_layout(browser: Browser, server: TickerServer, filled: str, artifacts: Path) -> None:
    ctx = new_context(browser, 390)
    try:
        page = open_page(ctx, f"{server.base}/demo?channel={filled}", [])
        top = page.evaluate(
            "() => document.querySelector('.side breaking-ticker').getBoundingClientRect().top"
        )
        assert top < 500, f"the ticker list starts {top:.0f} px down"
        nav = page.evaluate(
            """() => {
              const nav = document.querySelector('.masthead nav');
              const s = getComputedStyle(nav);
              const mask = s.maskImage || s.webkitMaskImage;
              return { more: nav.scrollWidth - nav.clientWidth, mask, bar: s.scrollbarWidth };
            }"""
        )
        assert nav["more"] > 0 and nav["mask"] != "none" and nav["bar"] != "none", nav
        page.screenshot(path=artifacts / "demo-390.png", full_page=True)
        page.screenshot(path=artifacts / "demo-390-top.png")
    finally:
        ctx.close()


def test_scroll_regions_take_the_keyboard(
    context: BrowserContext, server: TickerServer, filled: str
) -> None:
    page = open_page(context, f"{server.base}/demo?channel={filled}", [])
    pres = page.locator("pre")
    assert pres.count() >= 2
    for i in range(pres.count()):
        pre = pres.nth(i)
        assert pre.get_attribute("tabindex") == "0" and pre.get_attribute("aria-label")
    page.set_viewport_size({"width": 390, "height": 844})
    pre = pres.first
    pre.focus()
    scrollable = pre.evaluate("(p) => p.scrollWidth > p.clientWidth")
    assert scrollable
    before = pre.evaluate("(p) => p.scrollLeft")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("([p, x]) => p.scrollLeft !== x", arg=[pre.element_handle(), before])


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_axe_on_demo(
    browser: Browser, server: TickerServer, filled: str, width: int, theme: str, artifacts: Path
) -> None:
    ctx = new_context(browser, width, color_scheme=theme)
    try:
        page = open_page(ctx, f"{server.base}/demo?channel={filled}&theme={theme}", [])
        page.screenshot(path=artifacts / f"demo-{theme}-{width}.png")
        assert_accessible(page, f"/demo at {width} px, {theme}")
    finally:
        ctx.close()


@pytest.mark.parametrize("mode", ["list", "marquee"])
def test_axe_on_embed(
    context: BrowserContext, server: TickerServer, filled: str, mode: str
) -> None:
    page = open_page(context, f"{server.base}/embed/{filled}?mode={mode}", [])
    assert_accessible(page, f"/embed/{filled}?mode={mode}")
    missing = context.new_page()
    missing.goto(f"{server.base}/embed/no-such-channel")
    assert_accessible(missing, "the /embed 404 page")
