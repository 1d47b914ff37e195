"""Every client reconnects on one schedule (docs/design.md, "Reconnecting"): `ticker tail`,
the widget and the desk's live list wait the same delays after the same failures.

The browser clients run as they ship, in Chromium, against a stand-in EventSource that
fails on demand: Math.random is fixed, setTimeout records the delay each failure asks for
(and runs nothing by itself), and the test compares those delays with Python's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route

from ticker.assets import WEB_DIR
from ticker.embed.assets import build_widget
from ticker.tail import FIRST_DELAY, MAX_DELAY, reconnect_delay

ORIGIN = "https://ticker.test"  # served by page.route: https, so a secure context (Web Locks)
FAILURES = 8  # 1 s doubling reaches the 30 s cap at the sixth
RANDOMS = [0.0, 0.37, 0.999]

# Installed before any script of the page runs.
STAND_INS = """
(() => {
  window.__timers = [];
  Math.random = () => window.__random;
  window.setTimeout = (fn, ms) => window.__timers.push({ fn, ms });
  window.clearTimeout = () => {};
  window.__sources = [];
  window.EventSource = class extends EventTarget {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSED = 2;
    constructor(url) {
      super();
      this.url = url;
      this.readyState = 0;
      window.__sources.push(this);
    }
    close() {
      this.readyState = 2;
    }
    fail() {  // the server answered something other than 200: the browser gives up
      this.readyState = 2;
      const event = new Event('error');
      this.onerror?.(event);
      this.dispatchEvent(event);
    }
  };
  window.BreakingTickerConfig = { pollAfter: 1000 };  // no polling timers in between
})();
"""

# Fails the newest stream, takes the one timer that failure set (the reconnect), runs it
# to open the next stream; returns the delays, or a sentence saying what went wrong.
SCHEDULE_JS = """
async (failures) => {
  const delays = [];
  for (let n = 1; n <= failures; n++) {
    for (let i = 0; window.__sources.length < n; i++) {
      if (i === 100) return `no stream ${n} was opened`;
      await new Promise((done) => requestAnimationFrame(done));
    }
    const before = window.__timers.length;
    window.__sources[n - 1].fail();
    const set = window.__timers.slice(before);
    if (set.length !== 1) return `failure ${n} set ${set.length} timers`;
    delays.push(set[0].ms);
    set[0].fn();
  }
  return delays;
}
"""

WIDGET_PAGE = f"""<!doctype html><html lang="ar"><body>
<breaking-ticker channel="lebanon" server="{ORIGIN}"></breaking-ticker>
<script src="/widget.js"></script></body></html>"""

# The elements initLive reads, as the desk's compose page has them.
DESK_PAGE = """<!doctype html><html lang="ar"><body>
<section id="live"><h2 id="live-h">live</h2><p id="live-state"></p><p id="live-message"></p>
<ul id="live-list"></ul><p id="live-empty"></p>
<details id="ended"><summary></summary><ul id="ended-list"></ul></details></section>
<dialog id="retract-dialog"><form><p id="retract-dialog-text"></p>
<textarea id="retract-reason"></textarea><p id="retract-reason-error"></p>
<button value="confirm"></button><button type="button" data-close></button></form></dialog>
<template id="edit-template"><form></form></template>
<script type="module">
import { initLive } from '/desk/static/live.js';
initLive(document.getElementById('live'),
  [{ id: 'lebanon', title: 'Lebanon', dir: 'rtl', lang: 'ar', timezone: 'Asia/Beirut' }]);
</script></body></html>"""


def serve(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN).split("?")[0]
    js = "text/javascript; charset=utf-8"
    if path == "/widget":
        route.fulfill(body=WIDGET_PAGE, content_type="text/html; charset=utf-8")
    elif path == "/widget.js":
        route.fulfill(body=build_widget().body, content_type=js)
    elif path == "/desk":
        route.fulfill(body=DESK_PAGE, content_type="text/html; charset=utf-8")
    elif path.startswith("/desk/static/") and path.endswith(".js"):
        file = WEB_DIR / "desk" / Path(path).name
        route.fulfill(body=file.read_bytes(), content_type=js)
    else:
        route.fulfill(status=404, body="")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.add_init_script(STAND_INS)
    context.route(f"{ORIGIN}/**", serve)
    page = context.new_page()
    yield page
    context.close()


def python_schedule(random: float) -> list[float]:
    """`ticker tail`'s delays in ms, for a server that sent no `retry:`."""
    return [1000 * reconnect_delay(n, rand=lambda: random) for n in range(1, FAILURES + 1)]


def test_the_schedule_is_one_second_doubling_to_thirty_with_a_jitter_of_up_to_half() -> None:
    assert (FIRST_DELAY, MAX_DELAY) == (1.0, 30.0)
    assert python_schedule(0.0) == [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
    assert python_schedule(0.999)[:5] == pytest.approx([1499.5, 2999, 5998, 11996, 23992])
    # The server's `retry:` is the base: never sooner than it asked.
    assert reconnect_delay(1, base=3.0, rand=lambda: 0.0) == 3.0
    assert reconnect_delay(40, base=3.0, cap=30.0, rand=lambda: 0.999) == 30.0


@pytest.mark.parametrize("random", RANDOMS)
@pytest.mark.parametrize("client", ["widget", "desk"])
def test_browser_clients_wait_what_the_tail_waits(page: Page, client: str, random: float) -> None:
    page.add_init_script(f"window.__random = {random!r};")
    page.goto(f"{ORIGIN}/{client}")
    delays = page.evaluate(SCHEDULE_JS, FAILURES)
    assert isinstance(delays, list), delays
    assert delays == pytest.approx(python_schedule(random), rel=1e-12)
