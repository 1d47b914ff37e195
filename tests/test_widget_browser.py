"""<breaking-ticker> in Debian's Chromium: the widget on a page of another origin,
under a strict CSP, against a real `ticker serve`. Live publish, correction, retraction and
expiry; right to left; text is never markup; a server restart; motion and its controls;
tabs sharing one stream; hidden pages; polling; /embed; contrast; screenshots."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request
from playwright.sync_api import Error as PlaywrightError

from tests import waiting
from tests.support import RedisServer, TickerServer, cli, wait_for_channel
from tests.widget_support import CONTRAST_JS, ROWS_JS, WATCH_JS, HostSite

SAMPLES = json.loads((Path(__file__).parent / "data" / "items-ar.json").read_text())["items"]
# Shorter waits than a real page's, so failures and recoveries fit in a test's time.
FAST = {"backoffMs": 200, "maxBackoffMs": 1000, "newMs": 3000, "helloMs": 1000}
ONE_SECOND = 1.0  # the promise, measured from the publisher's 201 to the DOM

READY_JS = """(index) => {
  const el = document.querySelectorAll('breaking-ticker')[index || 0];
  const root = el && el.shadowRoot;
  return !!root && (root.querySelector('li') !== null || !root.querySelector('.empty').hidden);
}"""
HAS_JS = """([index, id]) => !!document.querySelectorAll('breaking-ticker')[index]
  .shadowRoot.querySelector(`li[data-id="${id}"]`)"""
GONE_JS = """([index, id]) => !document.querySelectorAll('breaking-ticker')[index]
  .shadowRoot.querySelector(`li[data-id="${id}"]`)"""
TEXT_JS = """([index, id, text]) => document.querySelectorAll('breaking-ticker')[index]
  .shadowRoot.querySelector(`li[data-id="${id}"] bdi`)?.textContent === text"""
EMPTY_JS = """(index) => !document.querySelectorAll('breaking-ticker')[index]
  .shadowRoot.querySelector('.empty').hidden"""


# Fixtures and helpers


@pytest.fixture(scope="module")
def host() -> Iterator[HostSite]:
    site = HostSite().start()
    yield site
    site.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


def new_context(browser: Browser, width: int = 1280, **config: Any) -> BrowserContext:
    ctx = browser.new_context(viewport={"width": width, "height": 800}, locale="ar-LB")
    ctx.add_init_script(f"window.BreakingTickerConfig = {json.dumps({**FAST, **config})};")
    ctx.add_init_script(WATCH_JS)
    return ctx


def open_page(ctx: BrowserContext, url: str, index: int = 0) -> Page:
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function(READY_JS, arg=index, timeout=10_000)
    return page


def tag(channel: str, **attributes: str) -> str:
    extra = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in attributes.items())
    return f'<breaking-ticker channel="{channel}"{extra}></breaking-ticker>'


def post(api: httpx.Client, channel: str, text: str, **fields: Any) -> dict[str, Any]:
    r = api.post(f"/api/v1/channels/{channel}/items", json={"text": text, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def rows(page: Page, index: int = 0) -> list[dict[str, Any]]:
    return page.evaluate(ROWS_JS, index)


def wait_for(page: Page, js: str, *arg: Any, timeout: float = 5.0) -> float:
    """Seconds until `js` holds in the page."""
    started = time.monotonic()
    page.wait_for_function(js, arg=list(arg), timeout=timeout * 1000, polling=20)
    return time.monotonic() - started


def resumes(request: Request) -> bool | None:
    """Does this stream request say where to resume from? None when it cannot be told: a
    request the server never answered (it was down) shows Playwright only its provisional
    headers, which leave out the browser's own Last-Event-ID."""
    if "last_event_id=" in request.url:
        return True
    try:
        headers = request.all_headers()
    except PlaywrightError:
        return None
    if request.response() is None:
        return None
    return bool(headers.get("last-event-id"))


def subscribers(server: TickerServer) -> int:
    return httpx.get(f"{server.base}/readyz", timeout=5).json()["subscribers"]


def settled_subscribers(server: TickerServer) -> int:
    """The count once streams closed by earlier tests have left the server."""
    counts = [subscribers(server)]
    for _ in range(40):
        time.sleep(0.1)
        counts.append(subscribers(server))
        if len(set(counts[-5:])) == 1 and len(counts) >= 5:
            break
    return counts[-1]


def bare(text: str) -> str:
    """Intl output without its bidi marks: compare text, not bytes (docs/design.md, "Traps")."""
    return text.replace("\u200f", "").replace("\u200e", "").replace("\u061c", "")


def strip_x(page: Page, index: int = 0) -> float:
    return page.evaluate(
        "(i) => document.querySelectorAll('breaking-ticker')[i]"
        ".shadowRoot.querySelector('ol').getBoundingClientRect().left",
        index,
    )


@pytest.fixture(scope="module")
def samples(redis_server: RedisServer, server: TickerServer, token: str) -> str:
    """A channel holding the sample Arabic items (the first one newest), some with links,
    one corrected."""
    name = f"samples-{int(time.time() * 1000) % 10**8}"
    cli(redis_server.url, "channel", "add", name, "--title", "لبنان")
    wait_for_channel(server.base, name)
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}) as api:
        for i, sample in enumerate(reversed(SAMPLES)):
            extra = {"url": f"https://example.org/news/{i}"} if i % 4 == 1 else {}
            item = post(api, name, sample["text"], priority=sample["priority"], **extra)
            if i == len(SAMPLES) - 3:
                # updated_at has whole seconds: correct it in the next one, so that the
                # snapshot shows it corrected.
                time.sleep(1.02 - time.time() % 1)
                api.patch(
                    f"/api/v1/channels/{name}/items/{item['id']}", json={"text": sample["text"]}
                ).raise_for_status()
    return name


# Live and lossless


def test_live_publish_correct_retract_expire(
    context: BrowserContext,
    host: HostSite,
    server: TickerServer,
    api: httpx.Client,
    channel: str,
    redis_server: RedisServer,
) -> None:
    page = open_page(context, host.page(server.base, tag(channel)))
    assert page.evaluate(EMPTY_JS, 0)

    started = time.monotonic()
    item = post(api, channel, "عاجل: انفجار في مرفأ بيروت، ولا إصابات حتى الآن")
    posted = time.monotonic()
    elapsed = wait_for(page, HAS_JS, 0, item["id"])
    assert elapsed < ONE_SECOND, f"the item took {elapsed:.2f} s after the 201 to appear"
    print(f"publish → DOM: {elapsed * 1000:.0f} ms ({(posted - started) * 1000:.0f} ms to post)")
    [row] = rows(page)
    assert row["text"] == item["text"] and row["fresh"] and not row["corrected"]
    speaker = "() => document.querySelector('breaking-ticker').shadowRoot.querySelector('.sr')"
    announced = page.evaluate(f"() => ({speaker})().textContent")
    assert item["text"] in announced and "عاجل" in announced
    assert page.evaluate(f"() => ({speaker})().getAttribute('aria-live')") == "polite"

    # A normal item is shown but not announced; a correction is marked, not announced.
    normal = post(api, channel, "زحمة سير على الأوتوستراد الساحلي", priority="normal")
    wait_for(page, HAS_JS, 0, normal["id"])
    fixed = "عاجل: انفجار في مرفأ بيروت، وإصابتان طفيفتان"
    r = api.patch(f"/api/v1/channels/{channel}/items/{item['id']}", json={"text": fixed})
    assert r.status_code == 200
    assert wait_for(page, TEXT_JS, 0, item["id"], fixed) < ONE_SECOND
    corrected = next(r for r in rows(page) if r["id"] == item["id"])
    assert corrected["corrected"]
    assert page.evaluate(f"() => ({speaker})().textContent") == announced

    # A retraction removes it at once.
    r = api.request("DELETE", f"/api/v1/channels/{channel}/items/{item['id']}")
    assert r.status_code == 204
    assert wait_for(page, GONE_JS, 0, item["id"]) < ONE_SECOND

    # Expiry: make the item due now; the session server expires every 0.5 s.
    redis_server.client().zadd("ticker:expiry", {f"{channel}/{normal['id']}": time.time() * 1000})
    wait_for(page, GONE_JS, 0, normal["id"], timeout=3)
    assert page.evaluate(EMPTY_JS, 0)

    # Under the host page's strict CSP: no violation, and the styles applied all the same.
    assert page.evaluate("window.__violations") == []
    header = page.evaluate(
        "() => getComputedStyle(document.querySelector('breaking-ticker')"
        ".shadowRoot.querySelector('header')).backgroundColor"
    )
    assert header == "rgb(200, 16, 46)"


def test_items_past_expiry_leave_without_an_event(
    browser: Browser, host: HostSite, server: TickerServer, api: httpx.Client, channel: str
) -> None:
    """The local timer: the reader's clock runs a minute ahead while the server (which has
    not expired the item) stays silent."""
    ctx = new_context(browser)
    try:
        page = ctx.new_page()
        page.clock.install()
        page.goto(host.page(server.base, tag(channel)))
        page.wait_for_function(READY_JS, arg=0)
        short = post(api, channel, "خبر لمدة دقيقة", ttl_seconds=60)
        long = post(api, channel, "خبر لمدة ساعة", ttl_seconds=3600)
        wait_for(page, HAS_JS, 0, long["id"])
        assert wait_for(page, HAS_JS, 0, short["id"]) >= 0
        page.clock.fast_forward(61_000)
        wait_for(page, GONE_JS, 0, short["id"], timeout=3)
        assert [r["id"] for r in rows(page)] == [long["id"]]
    finally:
        ctx.close()


def test_survives_a_server_restart(
    context: BrowserContext, host: HostSite, redis_server: RedisServer, token: str, channel: str
) -> None:
    own = TickerServer(redis_server.url, TICKER_EXPIRE_INTERVAL="0.5").start()
    try:
        with httpx.Client(base_url=own.base, headers={"Authorization": f"Bearer {token}"}) as api:
            before = post(api, channel, "خبر قبل إعادة التشغيل")
        page = context.new_page()
        streams: list[Request] = []
        page.on("request", lambda r: "/api/v1/stream" in r.url and streams.append(r))
        page.goto(host.page(own.base, tag(channel)))
        wait_for(page, HAS_JS, 0, before["id"])
        assert "last_event_id" not in streams[0].url  # the first connection takes the `reset`
        own.stop()
        during = [f"خبر أثناء الانقطاع رقم {n}" for n in (1, 2)]
        for text in during:
            cli(redis_server.url, "post", "--channel", channel, text)
        own.start()
        with httpx.Client(base_url=own.base, headers={"Authorization": f"Bearer {token}"}) as api:
            after = post(api, channel, "خبر بعد العودة")
        wait_for(page, HAS_JS, 0, after["id"], timeout=15)
        page.wait_for_timeout(300)  # any duplicate would be drawn by now
        texts = [r["text"] for r in rows(page)]
        assert texts == [after["text"], *reversed(during), before["text"]]
        # Every reconnect resumes: the browser's own with Last-Event-ID, the widget's with
        # `last_event_id` in the URL.
        told = [resumes(r) for r in streams[1:] if resumes(r) is not None]
        assert told and all(told), [(r.url, resumes(r)) for r in streams]
        assert page.evaluate("window.__violations") == []
    finally:
        own.stop()


# Right to left, and text that is never markup


def test_right_to_left(
    context: BrowserContext, host: HostSite, server: TickerServer, samples: str
) -> None:
    widgets = tag(samples, limit="20") + tag(samples, digits="arab", hour_cycle="h12")
    page = open_page(context, host.page(server.base, widgets))
    page.wait_for_function(READY_JS, arg=1)
    shown = rows(page)
    assert [r["text"] for r in shown] == [s["text"] for s in SAMPLES]

    # Times: HH:MM in the channel's zone (Asia/Beirut), Latin digits by default.
    snapshot = httpx.get(f"{server.base}/api/v1/channels/{samples}/items?limit=20").json()
    first = snapshot["items"][0]
    at = datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    assert bare(shown[0]["time"]) == at.astimezone(ZoneInfo("Asia/Beirut")).strftime("%H:%M")
    other = bare(rows(page, 1)[0]["time"])
    assert other[-1] in "صم" and all(c in "٠١٢٣٤٥٦٧٨٩: صم" for c in other), other

    geometry = page.evaluate(
        """() => {
      const root = document.querySelector('breaking-ticker').shadowRoot;
      const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.right]; };
      const range = (bdi, word) => {
        const node = bdi.firstChild, at = node.textContent.indexOf(word);
        const r = document.createRange();
        r.setStart(node, at);
        r.setEnd(node, at + word.length);
        const rect = r.getBoundingClientRect();
        return [rect.left, rect.right];
      };
      const li = [...root.querySelectorAll('li')].find((li) => li.textContent.includes('NASA'));
      const bdi = li.querySelector('bdi');
      return {
        direction: getComputedStyle(li).direction,
        boxDirection: getComputedStyle(root.querySelector('.bt')).direction,
        time: box(li.querySelector('time')),
        text: box(bdi),
        agency: range(bdi, 'وكالة'),
        nasa: range(bdi, 'NASA'),
        europa: range(bdi, 'Europa'),
        two: range(bdi, '-2'),
      };
    }"""
    )
    assert geometry["direction"] == geometry["boxDirection"] == "rtl"
    # The time starts the line: on the right, the sentence to its left.
    assert geometry["time"][0] >= geometry["text"][1] - 1
    # Mixed text intact: the Arabic word first (rightmost), NASA to its left, and
    # "Europa-2" reads left to right as one piece.
    assert geometry["nasa"][1] <= geometry["agency"][0] + 1
    assert geometry["europa"][1] <= geometry["two"][0] + 1


def test_several_channels_in_one_box(
    context: BrowserContext,
    host: HostSite,
    server: TickerServer,
    api: httpx.Client,
    channel: str,
    samples: str,
) -> None:
    item = post(api, channel, "خبر من القناة الثانية")
    page = open_page(context, host.page(server.base, tag(f"{samples},{channel}", limit="3")))
    wait_for(page, HAS_JS, 0, item["id"])
    shown = rows(page)
    assert [r["text"] for r in shown] == [item["text"], SAMPLES[0]["text"], SAMPLES[1]["text"]]
    later = post(api, samples, "خبر جديد في القناة الأولى")
    wait_for(page, HAS_JS, 0, later["id"])
    assert [r["id"] for r in rows(page)][:2] == [later["id"], item["id"]]
    api.request("DELETE", f"/api/v1/channels/{samples}/items/{later['id']}")  # keep the samples


def test_item_text_is_never_markup(
    context: BrowserContext, host: HostSite, server: TickerServer, api: httpx.Client, channel: str
) -> None:
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # No CSP on this host page: only the widget itself stands between the text and the DOM.
    page.goto(host.page(server.base, tag(channel), csp=False))
    page.wait_for_function(READY_JS, arg=0)
    evil = "<img src=x onerror=alert(1)>"
    url = "https://example.org/a?q=<script>alert(2)</script>"
    item = post(api, channel, evil, url=url)
    wait_for(page, HAS_JS, 0, item["id"])
    page.wait_for_timeout(300)
    [row] = rows(page)
    assert row["text"] == evil
    assert row["href"].startswith("https://example.org/a?q=") and "<" not in row["href"]
    assert row["rel"] == "noopener noreferrer" and row["target"] == "_blank"
    markup = page.evaluate(
        "() => document.querySelector('breaking-ticker').shadowRoot.querySelectorAll"
        "('img, script, [onerror]').length"
    )
    assert markup == 0
    assert dialogs == []


# Motion and its controls


def test_marquee_moves_in_reading_direction_and_pauses(
    context: BrowserContext, host: HostSite, server: TickerServer, samples: str
) -> None:
    page = open_page(context, host.page(server.base, tag(samples, mode="marquee"), layout="top"))
    view = page.evaluate(
        "() => { const v = document.querySelector('breaking-ticker').shadowRoot"
        ".querySelector('.view'); return [v.getAttribute('role'), v.getAttribute('aria-label')]; }"
    )
    assert view == ["marquee", "عاجل"]

    def moved(seconds: float = 0.35) -> float:
        start = strip_x(page)
        page.wait_for_timeout(seconds * 1000)
        return strip_x(page) - start

    # Right to left, the strip travels rightwards: each sentence enters by its first word.
    assert moved() > 5
    button = page.locator("breaking-ticker .pause")
    assert button.get_attribute("aria-pressed") == "false"
    assert button.get_attribute("aria-label")
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    page.mouse.move(5, 700)
    assert abs(moved()) < 0.5
    button.click()
    assert moved() > 5
    # Hover pauses too; leaving resumes.
    page.hover("breaking-ticker .view")
    assert abs(moved()) < 0.5
    page.mouse.move(5, 700)
    assert moved() > 5
    # A link reached by keyboard (on from the pause button, which had the focus and comes
    # first) stops the strip and is in view, not scrolled away.
    page.keyboard.press("Tab")
    focus = page.evaluate(
        """() => {
      const root = document.querySelector('breaking-ticker').shadowRoot;
      const link = root.activeElement, view = root.querySelector('.view');
      const a = link.getBoundingClientRect(), v = view.getBoundingClientRect();
      return { tag: link.tagName, moving: root.getAnimations().length,
               inside: a.left >= v.left - 1 && a.right <= v.right + 1 };
    }"""
    )
    assert focus == {"tag": "A", "moving": 0, "inside": True}
    page.keyboard.press("Shift+Tab")  # back on the pause button: the strip moves again
    assert moved() > 5
    assert page.evaluate("window.__violations") == []

    # Left to right, it travels leftwards.
    ltr = tag(samples, mode="marquee", dir="ltr", lang="en")
    page = open_page(context, host.page(server.base, ltr, layout="top"))
    assert moved() < -5


def test_reduced_motion_stops_the_marquee(
    context: BrowserContext, host: HostSite, server: TickerServer, samples: str
) -> None:
    page = context.new_page()
    page.emulate_media(reduced_motion="reduce")
    page.goto(host.page(server.base, tag(samples, mode="marquee"), layout="top"))
    page.wait_for_function(READY_JS, arg=0)
    page.wait_for_timeout(300)
    animations = page.evaluate(
        "() => document.querySelector('breaking-ticker').shadowRoot.getAnimations().length"
    )
    assert animations == 0
    start = strip_x(page)
    page.wait_for_timeout(400)
    assert strip_x(page) == start
    # Nothing is lost: the strip scrolls by hand instead.
    overflow = page.evaluate(
        "() => getComputedStyle(document.querySelector('breaking-ticker').shadowRoot"
        ".querySelector('.view')).overflowX"
    )
    assert overflow == "auto"


def test_pause_holds_new_items_but_not_retractions(
    context: BrowserContext, host: HostSite, server: TickerServer, api: httpx.Client, channel: str
) -> None:
    first = post(api, channel, "خبر أول")
    page = open_page(context, host.page(server.base, tag(channel)))
    wait_for(page, HAS_JS, 0, first["id"])
    # Keyboard: the item's link... (none here) so Tab reaches the pause control.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => document.activeElement.shadowRoot?.activeElement?.getAttribute('part')"
    )
    assert focused == "pause"
    page.keyboard.press("Enter")
    assert page.locator("breaking-ticker .pause").get_attribute("aria-pressed") == "true"
    held = post(api, channel, "خبر أثناء الإيقاف")
    page.wait_for_timeout(700)
    assert not page.evaluate(HAS_JS, [0, held["id"]])
    api.request("DELETE", f"/api/v1/channels/{channel}/items/{first['id']}")
    assert wait_for(page, GONE_JS, 0, first["id"]) < ONE_SECOND
    page.keyboard.press("Enter")
    wait_for(page, HAS_JS, 0, held["id"], timeout=1)


# One connection for many tabs; none for hidden ones; polling when the stream fails


def test_two_tabs_share_one_stream(
    context: BrowserContext, host: HostSite, server: TickerServer, api: httpx.Client, channel: str
) -> None:
    baseline = settled_subscribers(server)
    url = host.page(server.base, tag(channel))
    leader = open_page(context, url)
    follower = open_page(context, url)
    item = post(api, channel, "خبر يصل إلى التبويبين")
    wait_for(leader, HAS_JS, 0, item["id"])
    assert wait_for(follower, HAS_JS, 0, item["id"]) < ONE_SECOND
    assert subscribers(server) == baseline + 1
    # The leader closes: the other tab takes over from the last id it heard.
    leader.close()
    follower.bring_to_front()
    waiting.wait_for(lambda: subscribers(server) == baseline + 1, "one more subscriber", timeout=5)
    late = post(api, channel, "خبر بعد إغلاق التبويب الأول")
    wait_for(follower, HAS_JS, 0, late["id"], timeout=5)
    assert [r["text"] for r in rows(follower)] == [late["text"], item["text"]]
    assert subscribers(server) == baseline + 1


def test_hidden_page_lets_its_stream_go(
    browser: Browser, host: HostSite, server: TickerServer, api: httpx.Client, channel: str
) -> None:
    ctx = new_context(browser, hiddenMs=300)
    try:
        baseline = settled_subscribers(server)
        page = open_page(ctx, host.page(server.base, tag(channel)))
        waiting.wait_for(
            lambda: subscribers(server) == baseline + 1, "one more subscriber", timeout=5
        )
        page.evaluate(
            """() => {
          const hidden = { configurable: true, get: () => 'hidden' };
          Object.defineProperty(document, 'visibilityState', hidden);
          document.dispatchEvent(new Event('visibilitychange'));
        }"""
        )
        waiting.wait_for(lambda: subscribers(server) == baseline, "the subscriber gone", timeout=5)
        missed = post(api, channel, "خبر نُشر والصفحة مخفية")
        page.evaluate(
            """() => {
          delete document.visibilityState;
          document.dispatchEvent(new Event('visibilitychange'));
        }"""
        )
        wait_for(page, HAS_JS, 0, missed["id"], timeout=5)
        assert subscribers(server) == baseline + 1
    finally:
        ctx.close()


def test_polls_the_snapshot_when_the_stream_keeps_failing(
    browser: Browser, host: HostSite, server: TickerServer, api: httpx.Client, channel: str
) -> None:
    ctx = new_context(browser, backoffMs=100, maxBackoffMs=400, pollAfter=2, pollMs=400)
    try:
        first = post(api, channel, "خبر قبل الاتصال")
        page = ctx.new_page()
        page.route("**/api/v1/stream?**", lambda route: route.abort())
        page.goto(host.page(server.base, tag(channel)))
        wait_for(page, HAS_JS, 0, first["id"], timeout=5)
        later = post(api, channel, "خبر وصل بالاستطلاع")
        wait_for(page, HAS_JS, 0, later["id"], timeout=3)
        state = page.evaluate(
            "() => document.querySelector('breaking-ticker').shadowRoot"
            ".querySelector('.bt').dataset.status"
        )
        assert state == "offline"
        # The stream comes back: the widget returns to it.
        page.unroute("**/api/v1/stream?**")
        page.wait_for_function(
            "() => document.querySelector('breaking-ticker').shadowRoot"
            ".querySelector('.bt').dataset.status === 'live'",
            timeout=5000,
        )
    finally:
        ctx.close()


# /embed: rendered on the server, upgraded live, frameable


def test_embed_page_without_and_with_javascript(
    browser: Browser,
    context: BrowserContext,
    host: HostSite,
    server: TickerServer,
    api: httpx.Client,
    channel: str,
) -> None:
    item = post(api, channel, "وكالة NASA: خبر للإطار")
    static = browser.new_context(java_script_enabled=False)
    try:
        page = static.new_page()
        page.goto(f"{server.base}/embed/{channel}")
        assert page.locator(f'li[data-id="{item["id"]}"] bdi').inner_text() == item["text"]
        assert page.locator(".bt").evaluate("el => getComputedStyle(el).direction") == "rtl"
    finally:
        static.close()

    page = context.new_page()
    streams: list[str] = []
    page.on("request", lambda r: "/api/v1/stream" in r.url and streams.append(r.url))
    page.goto(f"{server.base}/embed/{channel}?theme=dark")
    page.wait_for_function(READY_JS, arg=0)
    # The page holds the snapshot and its position: the first connection resumes there.
    waiting.wait_for(lambda: streams, "a stream request", timeout=3)
    assert streams[0].endswith(f"channels={channel}&last_event_id={item['id']}")
    assert [r["id"] for r in rows(page)] == [item["id"]]
    live = post(api, channel, "خبر وصل إلى الإطار مباشرة")
    assert wait_for(page, HAS_JS, 0, live["id"]) < ONE_SECOND
    assert page.evaluate("window.__violations") == []

    # Framed by a page of another origin.
    frame = f'<iframe src="{server.base}/embed/{channel}" title="عاجل"></iframe>'
    framing = host.page(server.base, frame, csp=False)
    outer = context.new_page()
    outer.goto(framing)
    frame = outer.frame_locator("iframe")
    # (part=item: the widget's row, not the server-rendered one it replaced)
    frame.locator(f'li[part~=item][data-id="{live["id"]}"]').wait_for(timeout=5000)


# Contrast and screenshots


def test_contrast_meets_aa_in_both_themes(
    context: BrowserContext, host: HostSite, server: TickerServer, samples: str
) -> None:
    widgets = tag(samples) + tag(samples, theme="dark")
    page = open_page(context, host.page(server.base, widgets))
    page.wait_for_function(READY_JS, arg=1)
    for index, theme in enumerate(("light", "dark")):
        for selector, minimum in [
            ("li[data-priority=urgent] time", 4.5),
            ("li[data-priority=normal] time", 4.5),
            ("bdi", 4.5),
            (".fix", 4.5),
            (".label", 4.5),
            (".pause", 3.0),  # a control's outline and icon: non-text contrast
        ]:
            ratio = page.evaluate(
                f"([s, i]) => ({CONTRAST_JS})(document.querySelectorAll('breaking-ticker')[i]"
                ".shadowRoot.querySelector(s))",
                [selector, index],
            )
            assert ratio >= minimum, f"{theme} {selector}: {ratio:.2f} < {minimum}"


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots(
    browser: Browser,
    host: HostSite,
    server: TickerServer,
    samples: str,
    artifacts: Path,
    width: int,
) -> None:
    """List, marquee, dark theme and /demo at a desktop and a phone width, for a person
    to look at (test-artifacts/)."""
    ctx = new_context(browser, width=width)
    try:
        shots = {
            "list": host.page(server.base, tag(samples)),
            "marquee": host.page(server.base, tag(samples, mode="marquee"), layout="top"),
            "dark": host.page(server.base, tag(samples, theme="dark"), body_class="dark"),
        }
        for name, url in shots.items():
            page = open_page(ctx, url)
            page.wait_for_timeout(150)
            page.screenshot(
                path=artifacts / f"widget-{name}-{width}.png",
                full_page=name != "marquee",
                animations="disabled",
            )
            page.close()
        page = open_page(ctx, f"{server.base}/demo?channel={samples}")
        page.screenshot(path=artifacts / f"demo-{width}.png", full_page=True, animations="disabled")
        assert page.evaluate("window.__violations") == []
    finally:
        ctx.close()
