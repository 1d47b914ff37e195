"""Reach on the desk, in Debian's Chromium against a real server and
Redis: readers open real streams (httpx) and the compose page's reader count rises;
they leave and it falls; each live item, and each "Recently ended" one, shows how many
streams it went out to. The server beats every second so that the test is quick."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.desk_support import add_user, browser_login
from tests.support import RedisServer, TickerServer, cli, make_token

READERS = 3
WAIT_MS = 20_000  # a heartbeat, a disconnect noticed and a refresh, on a loaded machine


@pytest.fixture(scope="module")
def beating(redis_server: RedisServer) -> Iterator[TickerServer]:
    server = TickerServer(redis_server.url, TICKER_HEARTBEAT_SECONDS=1).start()
    try:
        yield server
    finally:
        server.stop()


def _post(redis_url: str, channel: str, text: str) -> dict:
    return dict(json.loads(cli(redis_url, "post", "--channel", channel, text).stdout))


def _retract(base: str, token: str, channel: str, item_id: str) -> None:
    httpx.request(
        "DELETE",
        f"{base}/api/v1/channels/{channel}/items/{item_id}",
        headers={"Authorization": f"Bearer {token}"},
        json={"reason": "موعد جديد"},
    ).raise_for_status()


def _readers(page: Page) -> int:
    return int(page.locator("#reach-readers").get_attribute("data-readers") or "-1")


def _delivered(page: Page, item_id: str, where: str = "#live-list") -> int:
    reach = page.locator(f"{where} li[data-id='{item_id}'] > .reach")
    return int(reach.get_attribute("data-delivered") or "-1")


def test_reach_follows_readers_and_counts_deliveries(
    browser: Browser, beating: TickerServer, redis_server: RedisServer, artifacts: Path
) -> None:
    channel = f"reach{id(object()) % 100000}"
    cli(redis_server.url, "channel", "add", channel, "--title", "Reach test")
    live = _post(redis_server.url, channel, "مجلس الوزراء يعقد جلسة استثنائية عند 17:00")
    gone = _post(redis_server.url, channel, "خبر سُحب: تأجيل الامتحانات الرسمية")
    token = make_token(redis_server.url, f"reach-{channel}", channel)
    _retract(beating.base, token, channel, gone["id"])
    editor = add_user(redis_server.url, "editor", channel)
    ctx = browser.new_context(locale="ar-LB", timezone_id="Asia/Beirut")
    try:
        page = ctx.new_page()
        browser_login(page, beating.base, editor)
        page.select_option("#channel", channel)
        expect(page.locator("#live-state")).to_have_class("live-state on")
        # The desk's own stream is a reader of the channel too.
        expect(page.locator("#reach-readers")).to_have_attribute(
            "data-readers", "1", timeout=WAIT_MS
        )
        expect(page.locator("#reach-readers")).to_contain_text("قارئ")
        row = page.locator(f"#live-list li[data-id='{live['id']}'] > .reach")
        expect(row).to_have_attribute("data-delivered", "1", timeout=WAIT_MS)
        page.locator("#ended summary").click()
        ended = page.locator(f"#ended-list li[data-id='{gone['id']}'] > .reach")
        # Retracted before any reader came: it went out to no stream.
        expect(ended).to_have_attribute("data-delivered", "0", timeout=WAIT_MS)
        expect(ended).to_have_text("لم يُرسل إلى أي اتصال")

        with contextlib.ExitStack() as streams:
            client = streams.enter_context(httpx.Client(base_url=beating.base, timeout=30))
            # Each stream's line iterator is kept: a dropped one closes its connection.
            lines = []
            for _ in range(READERS):
                response = streams.enter_context(
                    client.stream("GET", f"/api/v1/stream?channels={channel}")
                )
                assert response.status_code == 200
                lines.append(response.iter_lines())
                assert next(lines[-1]).startswith("retry:")  # connected
            expect(page.locator("#reach-readers")).to_have_attribute(
                "data-readers", str(1 + READERS), timeout=WAIT_MS
            )
            # Each new stream began with a reset holding the live item.
            expect(row).to_have_attribute("data-delivered", str(1 + READERS), timeout=WAIT_MS)
            expect(row).to_contain_text(str(1 + READERS))
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.locator("section.live").screenshot(path=artifacts / f"desk-reach-{width}.png")
        expect(page.locator("#reach-readers")).to_have_attribute(
            "data-readers", "1", timeout=WAIT_MS
        )
        # The count of deliveries stays: they happened, and stay once the item has ended.
        assert _delivered(page, live["id"]) == 1 + READERS
        assert _readers(page) == 1
        _retract(beating.base, token, channel, live["id"])
        moved = page.locator(f"#ended-list li[data-id='{live['id']}'] > .reach")
        expect(moved).to_have_attribute("data-delivered", str(1 + READERS), timeout=WAIT_MS)
        assert _delivered(page, live["id"], "#ended-list") == 1 + READERS
    finally:
        ctx.close()
