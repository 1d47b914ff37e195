"""Digit groups read left to right inside right-to-left text: one rule
(ticker/bidi.py), the same in the widget, checked by where Chromium draws each glyph in the
widget, the server-rendered /embed and the /live page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support import TickerServer
from tests.widget_support import HostSite
from ticker.bidi import AFTER_LATIN, DIGIT_GROUP, isolate_digits, split

# (item text, the digit groups in it, in order)
CASES: list[tuple[str, list[str]]] = [
    ("للاستعلام: +961 1 234 567", ["+961 1 234 567"]),
    ("الخط الساخن 01/234567 على مدار الساعة", ["01/234567"]),
    ("اتصلوا على 03 123 456 أو 00961 3 123 456", ["03 123 456", "00961 3 123 456"]),
    ("فاز الرياضي 87–79 على الحكمة", ["87–79"]),
    ("تقنين الكهرباء من 14:00–16:00 في بيروت", ["14:00–16:00"]),
    ("ارتفع التضخم 1.2% في تشرين الثاني", ["1.2%"]),
    ("أغلقت الأونصة على $187.20 مساء", ["$187.20"]),
    ("رقم الطوارئ ٣ ٤٥٦ للدفاع المدني", ["٣ ٤٥٦"]),
    ("الرقم ٠١/٢٣٤٥٦٧ أو ٠٣ 123 ٤٥٦", ["٠١/٢٣٤٥٦٧", "٠٣ 123 ٤٥٦"]),
    ("الموعد 2026-12-01 عند 09:30", ["2026-12-01", "09:30"]),
    # After a Latin word a group already runs on with it: isolated, it would jump sides.
    ("مؤشر S&P 500 يتراجع", []),
    ("إطلاق المسبار Europa-2 تأجل 48 ساعة", ["48"]),
    ("في عام 2024، قال الوزير إن العدد بلغ 5.", ["2024", "5"]),
    ("لا أرقام هنا", []),
]
SAMPLE = "(+961 1 234 567) 87–79, 1.2%, $187.20 و٣ ٤٥٦ <b>&amp;</b>"


@pytest.mark.parametrize(("text", "groups"), CASES)
def test_the_rule(text: str, groups: list[str]) -> None:
    pieces = split(text)
    assert "".join(piece for piece, _ in pieces) == text
    assert [piece for piece, group in pieces if group] == groups


def test_markup_is_escaped_and_only_isolates_added() -> None:
    html = str(isolate_digits('<b>الرقم "1"</b> & <i>'))
    assert html == (
        '&lt;b&gt;الرقم &#34;<bdi dir="ltr" class="num">1</bdi>&#34;&lt;/b&gt; &amp; &lt;i&gt;'
    )


def test_the_widget_is_given_the_same_rule(server: TickerServer) -> None:
    script = httpx.get(f"{server.base}/widget.js").text
    compact = script.replace(", ", ",")
    assert f"new RegExp({json.dumps(DIGIT_GROUP.pattern)},'gu')" in compact
    assert f"new RegExp({json.dumps(AFTER_LATIN.pattern)},'u')" in compact


# In Chromium


@pytest.fixture(scope="module")
def host() -> Iterator[HostSite]:
    site = HostSite().start()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def filled(server: TickerServer, token: str, redis_server: Any) -> str:
    from tests.support import cli

    name = "digits-" + format(id(object()) % 10**6, "d")
    cli(redis_server.url, "channel", "add", name, "--title", "أرقام")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=10) as api:
        for text, _ in reversed(CASES):
            r = api.post(f"/api/v1/channels/{name}/items", json={"text": text})
            assert r.status_code == 201, r.text
    return name


# Each digit group's visible characters, with the box Chromium draws each in.
GLYPHS_JS = """(where) => {
  const root = where === 'shadow'
    ? document.querySelector('breaking-ticker').shadowRoot : document;
  return [...root.querySelectorAll('bdi.num')]
    .filter((b) => b.getClientRects().length)
    .map((b) => {
      const node = b.firstChild;
      const glyphs = [];
      for (let i = 0; i < node.data.length; i++) {
        if (/\\s/.test(node.data[i])) continue;
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const r = range.getClientRects()[0];
        glyphs.push({ c: node.data[i], x: r.left + r.width / 2, y: r.top + r.height / 2 });
      }
      return { text: node.data, glyphs };
    });
}"""


def assert_left_to_right(groups: list[dict[str, Any]], expected: list[str]) -> None:
    assert [g["text"] for g in groups] == expected
    for group in groups:
        glyphs = group["glyphs"]
        lines = sorted({round(g["y"]) for g in glyphs})
        assert len(lines) == 1, f"{group['text']!r} broke over lines"
        xs = [g["x"] for g in glyphs]
        assert xs == sorted(xs), f"{group['text']!r} is not drawn left to right: {glyphs}"


def all_groups() -> list[str]:
    return [g for _, groups in CASES for g in groups]


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ar-LB")
    yield ctx
    ctx.close()


def test_in_the_widget(
    context: BrowserContext, host: HostSite, server: TickerServer, filled: str
) -> None:
    tag = f'<breaking-ticker channel="{filled}" limit="50"></breaking-ticker>'
    page = context.new_page()
    page.goto(host.page(server.base, tag))
    page.wait_for_function(
        "(n) => document.querySelector('breaking-ticker')?.shadowRoot"
        "?.querySelectorAll('li').length === n",
        arg=len(CASES),
        timeout=10_000,
    )
    assert_left_to_right(page.evaluate(GLYPHS_JS, "shadow"), all_groups())
    # Whole sentences keep their order too: «S&P 500» and «Europa-2» read as one piece.
    order = page.evaluate(
        """() => {
          const root = document.querySelector('breaking-ticker').shadowRoot;
          const at = (word) => {
            const li = [...root.querySelectorAll('li')].find((li) => li.textContent.includes(word));
            const walker = document.createTreeWalker(li, NodeFilter.SHOW_TEXT);
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
              const i = n.data.indexOf(word);
              if (i < 0) continue;
              const r = document.createRange();
              r.setStart(n, i);
              r.setEnd(n, i + word.length);
              const box = r.getBoundingClientRect();
              return [box.left, box.right];
            }
          };
          return { sp: at('S&P'), five: at('500'), europa: at('Europa'), two: at('-2') };
        }"""
    )
    assert order["sp"][1] <= order["five"][0] + 1, order
    assert order["europa"][1] <= order["two"][0] + 1, order
    # The same pieces in JavaScript as in Python, for every case and a hostile sample.
    Ticker = "customElements.get('breaking-ticker')"
    for text in [t for t, _ in CASES] + [SAMPLE]:
        pieces = page.evaluate(f"(t) => {Ticker}.split(t)", text)
        assert [tuple(p) for p in pieces] == split(text), text
    # Text stays text: the sample's markup is characters, not elements.
    nodes = page.evaluate(
        f"(t) => {Ticker}.isolated(t).map((n) => typeof n === 'string' ? n : n.outerHTML)", SAMPLE
    )
    assert not any(n.startswith("<b>") for n in nodes)
    assert any(n == '<bdi dir="ltr" class="num">+961 1 234 567</bdi>' for n in nodes)


def test_without_the_isolates_the_groups_reverse(
    context: BrowserContext, server: TickerServer
) -> None:
    """The check above can fail: the same phone number as plain right-to-left text."""
    page = context.new_page()
    page.goto(f"{server.base}/demo")
    page.evaluate(
        """() => {
          const p = document.createElement('p');
          p.dir = 'rtl';
          p.innerHTML = 'للاستعلام: <span class="num-test">+961 1 234 567</span>';
          document.body.prepend(p);
        }"""
    )
    glyphs = page.evaluate(
        """() => {
          const node = document.querySelector('.num-test').firstChild;
          const out = [];
          for (let i = 0; i < node.data.length; i++) {
            if (node.data[i] === ' ') continue;
            const range = document.createRange();
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            out.push(range.getClientRects()[0].left);
          }
          return out;
        }"""
    )
    assert glyphs != sorted(glyphs)


@pytest.mark.parametrize("script", [False, True], ids=["no-js", "js"])
@pytest.mark.parametrize("path", ["embed", "live"])
def test_on_the_server_rendered_pages(
    browser: Browser, server: TickerServer, filled: str, path: str, script: bool
) -> None:
    # Without JavaScript what the server wrote is drawn; with it, the widget's rendering
    # (the shadow root on /embed, the page's list redrawn by live.js on /live).
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=script)
    try:
        page: Page = ctx.new_page()
        page.goto(f"{server.base}/{path}/{filled}" + ("?limit=50" if path == "embed" else ""))
        where = "document"
        if script:
            page.wait_for_function("() => customElements.get('breaking-ticker')")
            if path == "embed":
                where = "shadow"
                page.wait_for_function(
                    "() => document.querySelector('breaking-ticker').shadowRoot.querySelector('li')"
                )
        assert_left_to_right(page.evaluate(GLYPHS_JS, where), all_groups())
    finally:
        ctx.close()
