"""Lag reports from <breaking-ticker> in Debian's Chromium (publish → screen lag):
the widget on a page of another origin under a strict CSP reports one lag per item it
shows, ten at a time and the rest when the page goes away, as a text/plain list of
numbers with nothing else; a box with lag-reports="off" reports nothing.

The 1% draw is forced by fixing `Math.random` to 0 in the page (a test-only setting: the
widget has no switch that a host page could use to raise the rate)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Request

from tests.support import TickerServer
from tests.test_lag_beacon import histogram
from tests.waiting import wait_for
from tests.widget_support import WATCH_JS, HostSite

BEACON = "/api/v1/beacon/lag"
HAS_JS = """(id) => [...document.querySelectorAll('breaking-ticker')].every(
  (el) => !!el.shadowRoot.querySelector(`li[data-id="${id}"]`))"""
READY_JS = """() => [...document.querySelectorAll('breaking-ticker')].every(
  (el) => el.shadowRoot && !el.shadowRoot.querySelector('.empty').hidden)"""


@pytest.fixture(scope="module")
def host() -> Iterator[HostSite]:
    site = HostSite().start()
    yield site
    site.stop()


def count(server: TickerServer) -> float:
    return histogram(server.base).get("_count", 0)


def test_the_widget_reports_each_item_it_shows(
    browser: Browser, host: HostSite, server: TickerServer, api: httpx.Client, channel: str
) -> None:
    widgets = (
        f'<breaking-ticker channel="{channel}" limit="20"></breaking-ticker>'
        # The same items in a second box that says no: they are reported once, not twice.
        f'<breaking-ticker channel="{channel}" limit="20" lag-reports="off"></breaking-ticker>'
    )
    url = host.page(server.base, widgets)
    ctx = browser.new_context(locale="ar-LB")
    ctx.add_init_script("Math.random = () => 0;")  # every item is in the 1%
    ctx.add_init_script(WATCH_JS)
    beacons: list[Request] = []
    ctx.on("request", lambda r: beacons.append(r) if r.url.endswith(BEACON) else None)
    try:
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_function(READY_JS, timeout=10_000)
        before = count(server)

        def publish(n: int) -> None:
            for i in range(n):
                item = api.post(
                    f"/api/v1/channels/{channel}/items", json={"text": f"خبر عاجل رقم {i}"}
                )
                assert item.status_code == 201, item.text
                page.wait_for_function(HAS_JS, arg=item.json()["id"], timeout=10_000)

        # Ten shown: the widget sends them together, at once.
        publish(10)
        wait_for(lambda: count(server) == before + 10, "10 more lag samples", timeout=15)
        [beacon] = beacons
        assert beacon.method == "POST"  # a simple request: no preflight came first
        assert beacon.headers["content-type"].startswith("text/plain"), beacon.headers
        # The page's address does not go along (only its origin, by default policy).
        assert "/page-" not in beacon.headers.get("referer", ""), beacon.headers
        lags = json.loads(beacon.post_data or "")
        assert len(lags) == 10
        # Whole milliseconds from the publish to the screen, on this loaded machine too.
        assert all(type(lag) is int and 0 <= lag < 10_000 for lag in lags), lags
        assert page.evaluate("window.__violations || []") == []
        # Three more wait for company, then leave with the page.
        publish(3)
        page.wait_for_timeout(300)  # the thing under test: none is sent meanwhile
        assert count(server) == before + 10
        page.goto("about:blank")  # the page is hidden: what is pending is sent
        wait_for(lambda: count(server) == before + 13, "13 more lag samples", timeout=15)
        print(f"first ten lags reported (ms): {lags}")
    finally:
        ctx.close()
    # Nothing more arrives later: each item was reported once.
    assert count(server) == before + 13


@pytest.mark.parametrize(("draw", "reported"), [(0.0099, 4), (0.01, 0)])
def test_one_item_in_a_hundred_is_measured(
    browser: Browser,
    host: HostSite,
    server: TickerServer,
    api: httpx.Client,
    channel: str,
    draw: float,
    reported: int,
) -> None:
    """The documented 1%: an item is measured when the draw falls below 0.01. A last item
    drawn at 0 marks the end: everything pending leaves in the one report sent as the page
    goes, so when the marker has arrived, whatever else was measured has too."""
    url = host.page(server.base, f'<breaking-ticker channel="{channel}"></breaking-ticker>')
    ctx = browser.new_context(locale="ar-LB")
    ctx.add_init_script(f"Math.random = () => {draw};")
    try:
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_function(READY_JS, timeout=10_000)
        before = count(server)

        def publish(text: str) -> None:
            item = api.post(f"/api/v1/channels/{channel}/items", json={"text": text})
            assert item.status_code == 201, item.text
            page.wait_for_function(HAS_JS, arg=item.json()["id"], timeout=10_000)

        for i in range(4):
            publish(f"خبر {i}")
        page.evaluate("Math.random = () => 0")
        publish("الخبر الأخير")
        page.goto("about:blank")
        wait_for(lambda: count(server) > before, "a new lag sample", timeout=15)
        assert count(server) == before + reported + 1
    finally:
        ctx.close()
