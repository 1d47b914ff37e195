"""After a deploy the widget's readers come back spread over the server's `retry:` window,
not all within a second: real Chromium, several browser contexts
(each its own tab group, so each holds its own stream), a real `ticker serve` stopped
with SIGTERM and started again on the same port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request

from tests.support import RedisServer, TickerServer
from tests.waiting import wait_for
from tests.widget_support import HostSite

CONTEXTS = 8  # spread over a 4 s window, 8 land within one second by chance 1 in 2,000 times
RETRY_MS = 1000  # the farewell `retry:` is then 1 to 5 s (ticker/frames.py)
WINDOW_S = (RETRY_MS / 1000, 5 * RETRY_MS / 1000)

# Records when each stream of the page ended (its `error` event), in wall-clock ms.
RECORD_JS = """
(() => {
  const Native = window.EventSource;
  window.__streamErrors = [];
  window.EventSource = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('error', () => window.__streamErrors.push(Date.now()));
    }
  };
})();
"""
HAS_JS = """([id]) => [...document.querySelector('breaking-ticker').shadowRoot
  .querySelectorAll('li')].some((li) => li.dataset.id === id)"""


@pytest.fixture(scope="module")
def host() -> Iterator[HostSite]:
    site = HostSite().start()
    yield site
    site.stop()


class Tab:
    """One browser context with the widget, and every stream request it made."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.context: BrowserContext = browser.new_context(locale="ar-LB")
        self.context.add_init_script(RECORD_JS)
        self.requests: list[tuple[float, Request]] = []  # (wall-clock ms when seen, request)
        self.page: Page = self.context.new_page()
        self.page.on("request", self._seen)
        self.page.goto(url)

    def _seen(self, request: Request) -> None:
        # Timed here: a request that fails (the server is still down) has no timing.
        if "/api/v1/stream" in request.url:
            self.requests.append((time.time() * 1000, request))

    def stream_ended_at(self) -> float:
        errors: list[float] = self.page.evaluate("window.__streamErrors")
        assert errors, "the stream never ended"
        return errors[0]

    def first_request_after(self, ms: float) -> tuple[float, Request]:
        later = [(at, r) for at, r in self.requests if at > ms]
        assert later, "no reconnect"
        return min(later, key=lambda seen: seen[0])

    def close(self) -> None:
        self.context.close()


def test_widgets_reconnect_spread_over_the_retry_window_after_sigterm(
    browser: Browser, host: HostSite, redis_server: RedisServer, token: str, channel: str
) -> None:
    own = TickerServer(redis_server.url, TICKER_RETRY_MS=RETRY_MS).start()
    tabs: list[Tab] = []
    try:
        url = host.page(own.base, f'<breaking-ticker channel="{channel}"></breaking-ticker>')
        tabs = [Tab(browser, url) for _ in range(CONTEXTS)]
        wait_for(
            lambda: readyz(own)["subscribers"] == CONTEXTS,
            f"{CONTEXTS} subscribers on the server",
            timeout=15,
        )

        delays: list[float] = []
        # Playwright reports a request when the test waits on it: the initial ones first.
        while not all(tab.requests for tab in tabs):
            tabs[0].page.wait_for_timeout(20)

        def restart_server() -> None:
            own.stop()  # SIGTERM: every stream gets a farewell `retry:`, then it exits
            own.start()  # on the same port

        # Meanwhile Playwright reports (and the test times) every reconnect attempt, those
        # that fail while the server is down too.
        restart = threading.Thread(target=restart_server)
        restart.start()
        while restart.is_alive():
            tabs[0].page.wait_for_timeout(20)
        deadline = time.monotonic() + 30
        while readyz(own)["subscribers"] < CONTEXTS:
            assert time.monotonic() < deadline, "the widgets did not all come back"
            tabs[0].page.wait_for_timeout(20)

        for tab in tabs:
            ended = tab.stream_ended_at()
            at, _ = tab.first_request_after(ended)
            delays.append((at - ended) / 1000)
        print("reconnect delays (s):", json.dumps(sorted(round(d, 2) for d in delays)))
        low, high = WINDOW_S
        assert all(low - 0.1 <= d <= high + 1.0 for d in delays), delays
        assert max(delays) - min(delays) >= 1.0, f"not spread: {delays}"
        for tab in tabs:
            # It resumes: the browser's own reconnect sends Last-Event-ID (the widget's own,
            # after three failed ones on a slow restart, puts the id in the URL).
            _, connected = tab.requests[-1]  # the one that got through
            resumed = connected.all_headers().get("last-event-id")
            assert resumed or "last_event_id=" in connected.url

        # Nothing lost on the way: an item published now reaches every tab.
        with httpx.Client(base_url=own.base, headers={"Authorization": f"Bearer {token}"}) as api:
            r = api.post(f"/api/v1/channels/{channel}/items", json={"text": "خبر بعد النشر"})
            assert r.status_code == 201
        for tab in tabs:
            tab.page.wait_for_function(HAS_JS, arg=[r.json()["id"]], timeout=5000)
    finally:
        for tab in tabs:
            tab.close()
        own.stop()


def readyz(server: TickerServer) -> dict[str, Any]:
    return dict(httpx.get(f"{server.base}/readyz", timeout=2).json())
