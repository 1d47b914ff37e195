"""The fleet status page of the desk, in Debian's Chromium against
two real `ticker serve` processes on one Redis of the test's own: an admin sees both
processes and the totals, and the figures follow live as readers open streams on one
of them; editors get 403, as on every admin page."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.axe_support import assert_accessible, install
from tests.desk_support import add_user, browser_login, desk_client, login
from tests.support import RedisServer, TickerServer, cli

READERS = 3
WAIT_MS = 20_000  # a heartbeat and a refresh, on a loaded machine


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[RedisServer, TickerServer, TickerServer]]:
    redis = RedisServer().start()
    first = second = None
    try:
        first = TickerServer(redis.url, TICKER_HEARTBEAT_SECONDS=1).start()
        second = TickerServer(redis.url, TICKER_HEARTBEAT_SECONDS=1).start()
        yield redis, first, second
    finally:
        for server in (first, second):
            if server is not None:
                server.stop()
        redis.stop()


def test_editors_get_403(fleet: tuple[RedisServer, TickerServer, TickerServer]) -> None:
    redis, first, _ = fleet
    editor = add_user(redis.url, "editor")
    with desk_client(first.base) as client:
        login(client, editor)
        response = client.get("/desk/admin/status")
        assert response.status_code == 403
        assert "text/html" in response.headers["content-type"]
        page = client.get("/desk/compose").text
        assert "/desk/admin/status" not in page  # not in an editor's menu


def test_admins_see_every_process_live(
    browser: Browser, fleet: tuple[RedisServer, TickerServer, TickerServer], artifacts: Path
) -> None:
    redis, first, second = fleet
    cli(redis.url, "channel", "add", "sport", "--title", "Sport")
    admin = add_user(redis.url, "admin")
    ctx = browser.new_context(locale="ar-LB", timezone_id="Asia/Beirut")
    install(ctx)
    try:
        page = ctx.new_page()
        browser_login(page, first.base, admin)
        page.click("a[href='/desk/admin/status']")
        expect(page.locator("h1")).to_have_text("حالة الخوادم")
        expect(page.locator("a[href='/desk/admin/status']")).to_have_attribute(
            "aria-current", "page"
        )
        rows = page.locator("#fleet-processes tbody tr[data-process]")
        expect(rows).to_have_count(2, timeout=WAIT_MS)
        pids = {first.proc.pid, second.proc.pid}  # type: ignore[union-attr]
        shown = {int(rows.nth(i).locator("td").nth(2).inner_text()) for i in range(2)}
        assert shown == pids
        assert os.uname().nodename in rows.first.inner_text()
        total = page.locator("dd[data-total=subscribers]")
        expect(page.locator("dd[data-total=processes]")).to_have_text("2")
        expect(page.locator("dd[data-total=ready]")).to_have_text("2")
        expect(total).to_have_text("0", timeout=WAIT_MS)

        with contextlib.ExitStack() as streams:
            client = streams.enter_context(httpx.Client(base_url=second.base, timeout=30))
            lines = []  # each stream's iterator kept: a dropped one closes its connection
            for _ in range(READERS):
                response = streams.enter_context(
                    client.stream("GET", "/api/v1/stream?channels=sport")
                )
                lines.append(response.iter_lines())
                assert next(lines[-1]).startswith("retry:")
            expect(total).to_have_text(str(READERS), timeout=WAIT_MS)
            row = page.locator(f"#fleet-processes tr[data-process*='-{second.proc.pid}-']")  # type: ignore[union-attr]
            expect(row.locator("[data-field=subscribers]")).to_have_text(str(READERS))
            expect(row.locator("[data-field=channels]")).to_have_text(f"sport: {READERS}")
            expect(page.locator("dd[data-total=channels]")).to_have_text(f"sport: {READERS}")
            expect(row.locator("[data-field=behind_ms]")).to_have_text("0")
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.screenshot(path=artifacts / f"desk-status-{width}.png", full_page=True)
                assert_accessible(page, f"fleet status ({width} px)")
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{overflow}px wider than the window"
        expect(total).to_have_text("0", timeout=WAIT_MS)
    finally:
        ctx.close()
