"""Digit groups on the desk, in Debian's Chromium against a real
server: a phone number and a score in the live list (rendered by the server without
JavaScript, by the page's script with it), in "Recently ended" and in the preview read
left to right, by the widget's rule, checked by where the glyphs land on screen."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, expect

from tests.desk_support import add_user, browser_login
from tests.support import RedisServer, TickerServer, cli

PHONE = "+961 1 234 567"
SCORE = "87–79"
TEXT = f"للاستعلام: {PHONE} والنتيجة {SCORE} للفريق"

# x of each character of the element's text, in reading order: [char, left edge].
GLYPHS_JS = """(root) => {
  const out = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      out.push([node.data[i], box.left]);
    }
  }
  return out;
}"""


def _reads_left_to_right(text: Locator, group: str) -> None:
    """Each character of `group` lies to the right of the one before it (one line)."""
    glyphs = text.evaluate(GLYPHS_JS)
    whole = "".join(c for c, _ in glyphs)
    start = whole.index(group)
    xs = [x for (c, x) in glyphs[start : start + len(group)] if not c.isspace()]
    assert xs == sorted(xs), f"{group!r} does not read left to right: {xs}"


@pytest.mark.parametrize("script", [True, False])
def test_digit_groups_read_left_to_right_on_the_desk(
    browser: Browser,
    server: TickerServer,
    redis_server: RedisServer,
    channel: str,
    api: httpx.Client,
    script: bool,
    artifacts: Path,
) -> None:
    live = json.loads(cli(redis_server.url, "post", "--channel", channel, TEXT).stdout)
    gone = json.loads(cli(redis_server.url, "post", "--channel", channel, f"سُحب: {TEXT}").stdout)
    api.request(
        "DELETE", f"/api/v1/channels/{channel}/items/{gone['id']}", json={"reason": "خطأ"}
    ).raise_for_status()
    editor = add_user(redis_server.url, "editor", channel)
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="ar-LB", java_script_enabled=script
    )
    try:
        page = ctx.new_page()
        browser_login(page, server.base, editor)
        answer = page.goto(f"{server.base}/desk/compose?channel={channel}")
        # Said plainly when the desk did not give the compose page (CI once saw no #channel).
        assert answer is not None and answer.ok and "/desk/compose" in page.url, (
            f"compose answered {answer.status if answer else None} at {page.url}: "
            f"{page.locator('body').inner_text()[:400]!r}"
        )
        row = page.locator(f"#live-list li[data-id='{live['id']}'] .item-text")
        if script:
            page.select_option("#channel", channel)
            expect(page.locator("#live-state")).to_have_class("live-state on")
            # The page's script redrew the row after the stream's reset (by the widget's rule).
            page.wait_for_function(
                "(id) => document.querySelector(`#live-list li[data-id='${id}']`)?.dataset.sig",
                arg=live["id"],
            )
        expect(row.locator("bdi[dir=ltr].num")).to_have_text([PHONE, SCORE])
        _reads_left_to_right(row, PHONE)
        _reads_left_to_right(row, SCORE)
        page.locator("#ended summary").click()
        ended = page.locator(f"#ended-list li[data-id='{gone['id']}'] .item-text")
        expect(ended.locator("bdi[dir=ltr].num")).to_have_text([PHONE, SCORE])
        _reads_left_to_right(ended, PHONE)
        if script:
            page.fill("#text", TEXT)
            preview = page.locator("#preview .body bdi").first
            expect(preview.locator("bdi[dir=ltr].num")).to_have_text([PHONE, SCORE])
            _reads_left_to_right(preview, PHONE)
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(
                path=artifacts / f"desk-digits-{'js' if script else 'nojs'}-{width}.png",
                full_page=True,
            )
    finally:
        ctx.close()
