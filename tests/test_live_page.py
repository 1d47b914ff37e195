"""/live/{channel}: the live items in the HTML itself, newest first, with
LiveBlogPosting structured data (extracted with extruct, as a crawler would), a canonical
link, conditional GETs, a strict CSP, a 404 page; live in Chromium through the widget."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import extruct
import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.axe_support import assert_accessible, install
from tests.support import RedisServer, TickerServer
from tests.waiting import wait_for

BLOG_FIELDS = ("headline", "coverageStartTime", "dateModified", "liveBlogUpdate")
POST_FIELDS = ("headline", "articleBody", "datePublished", "url")


def post(api: httpx.Client, channel: str, text: str, **fields: Any) -> dict[str, Any]:
    r = api.post(f"/api/v1/channels/{channel}/items", json={"text": text, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def blog_of(html: str, url: str) -> dict[str, Any]:
    [blog] = extruct.extract(html, base_url=url, syntaxes=["json-ld"])["json-ld"]
    return blog


def ids_in(html: str) -> list[str]:
    return re.findall(r'<li id="item-([^"]+)"', html)


def test_live_page_has_the_items_and_their_structured_data(
    server: TickerServer, api: httpx.Client, channel: str
) -> None:
    first = post(api, channel, "انقطاع الكهرباء في بيروت من 14:00–16:00")
    second = post(api, channel, "للاستعلام: +961 1 234 567", url="https://example.org/a")
    third = post(api, channel, "<b>نص</b> & «اقتباس»", priority="normal")
    time.sleep(1.02 - time.time() % 1)  # updated_at has whole seconds
    fixed = api.patch(
        f"/api/v1/channels/{channel}/items/{first['id']}",
        json={"text": "انقطاع الكهرباء في بيروت من 14:00–17:00"},
    ).json()

    r = httpx.get(f"{server.base}/live/{channel}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    html = r.text
    url = f"{server.base}/live/{channel}"
    assert '<html lang="ar" dir="rtl">' in html
    assert f"<title>Test {channel} · مباشر</title>" in html
    assert f'<link rel="canonical" href="{url}">' in html
    assert ids_in(html) == [third["id"], second["id"], first["id"]]  # newest first
    assert "<b>نص</b>" not in html and "&lt;b&gt;نص&lt;/b&gt; &amp; «اقتباس»" in html
    assert '<bdi dir="ltr" class="num">+961 1 234 567</bdi>' in html
    assert 'href="https://example.org/a"' in html
    assert '<meta name="description" content="&lt;b&gt;نص&lt;/b&gt; &amp; «اقتباس»">' in html

    blog = blog_of(html, url)
    assert blog["@context"] == "https://schema.org" and blog["@type"] == "LiveBlogPosting"
    for name in BLOG_FIELDS:
        assert blog.get(name), f"LiveBlogPosting lacks {name}"
    assert blog["headline"] == f"Test {channel}"
    assert blog["url"] == url
    assert blog["coverageStartTime"] == first["created_at"]
    assert blog["dateModified"] >= fixed["updated_at"]
    updates = blog["liveBlogUpdate"]
    assert [u["url"] for u in updates] == [f"{url}#item-{i['id']}" for i in (third, second, first)]
    for u in updates:
        assert u["@type"] == "BlogPosting"
        for name in POST_FIELDS:
            assert u.get(name), f"BlogPosting lacks {name}"
    assert updates[0]["articleBody"] == third["text"]
    assert updates[2]["articleBody"] == fixed["text"]
    assert updates[2]["datePublished"] == first["created_at"]
    assert updates[2]["dateModified"] == fixed["updated_at"]  # corrected
    assert "dateModified" not in updates[0]

    # A retracted item leaves the page and its data.
    api.request("DELETE", f"/api/v1/channels/{channel}/items/{second['id']}").raise_for_status()

    def retracted() -> bool:
        page = httpx.get(f"{server.base}/live/{channel}").text
        return (
            ids_in(page) == [third["id"], first["id"]]
            and len(blog_of(page, url)["liveBlogUpdate"]) == 2
        )

    wait_for(retracted, "the live page without the retracted item", timeout=5)


def test_long_items_get_a_short_headline_and_the_whole_body(
    server: TickerServer, api: httpx.Client, channel: str
) -> None:
    text = "عاجل: " + " ".join(["مجلس الوزراء يقر خطة الطوارئ"] * 8)
    post(api, channel, text)
    url = f"{server.base}/live/{channel}"
    [update] = blog_of(httpx.get(url).text, url)["liveBlogUpdate"]
    assert update["articleBody"] == text
    assert len(update["headline"]) <= 110 and update["headline"].endswith("…")
    assert text.startswith(update["headline"][:-1])


def test_etag_csp_head_and_an_unknown_channel(
    server: TickerServer, api: httpx.Client, channel: str
) -> None:
    post(api, channel, "خبر")
    url = f"{server.base}/live/{channel}"
    r = httpx.get(url)
    etag = r.headers["etag"]
    policy = r.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'self'"):
        assert directive in policy
    assert r.headers["x-content-type-options"] == "nosniff"
    again = httpx.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert httpx.head(url).status_code == 200
    post(api, channel, "خبر آخر")
    assert wait_for(
        lambda: httpx.get(url, headers={"If-None-Match": etag}).status_code == 200,
        "a new ETag for the live page",
    )

    for missing in ("no-such-channel", "UPPER", "a" * 40):
        r = httpx.get(f"{server.base}/live/{missing}")
        assert r.status_code == 404
        assert "لا توجد قناة بهذا الاسم" in r.text and "There is no channel" in r.text
        assert "content-security-policy" in r.headers


def test_canonical_link_from_the_public_url(redis_server: RedisServer, channel: str) -> None:
    ticker = TickerServer(redis_server.url, TICKER_PUBLIC_URL="https://news.example/ticker")
    ticker.start()
    try:
        html = httpx.get(f"{ticker.base}/live/{channel}").text
    finally:
        ticker.stop()
    url = f"https://news.example/ticker/live/{channel}"
    assert f'<link rel="canonical" href="{url}">' in html
    assert blog_of(html, url)["url"] == url


# In Chromium


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ar-LB")
    install(ctx)
    yield ctx
    ctx.close()


def page_state(page: Page) -> dict[str, Any]:
    return page.evaluate(
        """() => ({
          ids: [...document.querySelectorAll('#updates > li')].map((li) => li.id),
          texts: [...document.querySelectorAll('#updates > li p > bdi')].map((b) => b.textContent),
          data: JSON.parse(document.getElementById('live-data').textContent),
          empty: !document.getElementById('empty').hidden,
        })"""
    )


def test_the_page_stays_live(
    context: BrowserContext,
    server: TickerServer,
    api: httpx.Client,
    channel: str,
    redis_server: RedisServer,
    artifacts: Path,
) -> None:
    old = post(api, channel, "خبر منشور قبل فتح الصفحة: الحصيلة 87–79")
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.base}/live/{channel}")
    page.wait_for_function("() => customElements.get('breaking-ticker')")
    assert page_state(page)["ids"] == [f"item-{old['id']}"]

    item = post(api, channel, "عاجل: اتصلوا على +961 1 234 567", url="https://example.org/n")
    started = time.monotonic()
    page.wait_for_function(
        "(id) => document.getElementById(id)", arg=f"item-{item['id']}", timeout=5000
    )
    print(f"publish → /live DOM: {(time.monotonic() - started) * 1000:.0f} ms")
    # Announced politely (the item is urgent); the item already on the page was not.
    announced = page.evaluate("() => document.getElementById('announce').textContent")
    assert item["text"] in announced and old["text"] not in announced
    assert page.get_attribute("#announce", "aria-live") == "polite"
    state = page_state(page)
    assert state["ids"] == [f"item-{item['id']}", f"item-{old['id']}"]
    assert [u["articleBody"] for u in state["data"]["liveBlogUpdate"]] == [
        item["text"],
        old["text"],
    ]
    # The page's data is what the server would render now, but for when it last changed.
    url = f"{server.base}/live/{channel}"
    served = blog_of(httpx.get(url).text, url)
    live = blog_of(page.content(), url)
    for blog in (served, live):
        blog.pop("dateModified")
    assert live == served
    assert (
        page.evaluate(f"() => document.querySelector('#item-{item['id']} bdi.num').textContent")
        == "+961 1 234 567"
    )

    # A correction redraws the item; a retraction and an expiry take it out of both.
    fixed = "عاجل: اتصلوا على +961 1 234 568"
    api.patch(f"/api/v1/channels/{channel}/items/{item['id']}", json={"text": fixed})
    page.wait_for_function(
        "([id, t]) => document.querySelector(`#${id} p > bdi`)?.textContent === t",
        arg=[f"item-{item['id']}", fixed],
        timeout=5000,
    )
    page.screenshot(path=artifacts / "live-1280.png", full_page=True)
    assert_accessible(page, f"/live/{channel}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=artifacts / "live-390.png", full_page=True)
    assert_accessible(page, f"/live/{channel} at 390 px")

    api.request("DELETE", f"/api/v1/channels/{channel}/items/{item['id']}").raise_for_status()
    page.wait_for_function(
        "(id) => !document.getElementById(id)", arg=f"item-{item['id']}", timeout=5000
    )
    assert len(page_state(page)["data"]["liveBlogUpdate"]) == 1
    redis_server.client().zadd("ticker:expiry", {f"{channel}/{old['id']}": time.time() * 1000})
    page.wait_for_function("() => !document.getElementById('empty').hidden", timeout=5000)
    state = page_state(page)
    assert state["ids"] == [] and state["data"]["liveBlogUpdate"] == []
    assert errors == []


def test_without_javascript(
    browser: Browser, server: TickerServer, api: httpx.Client, channel: str
) -> None:
    item = post(api, channel, "خبر يقرأه من لا يشغّل جافاسكربت")
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        page = ctx.new_page()
        page.goto(f"{server.base}/live/{channel}")
        assert page.locator(f"#item-{item['id']}").is_visible()
        assert page.locator("breaking-ticker").is_hidden()
        assert json.loads(page.locator("#live-data").text_content() or "")["liveBlogUpdate"]
    finally:
        ctx.close()


def test_an_unknown_channel_in_chromium(context: BrowserContext, server: TickerServer) -> None:
    page = context.new_page()
    response = page.goto(f"{server.base}/live/no-such-channel")
    assert response is not None and response.status == 404
    assert_accessible(page, "the /live 404 page")


def test_an_empty_channel_and_the_time_to_answer(
    server: TickerServer, api: httpx.Client, channel: str
) -> None:
    url = f"{server.base}/live/{channel}"
    html = httpx.get(url).text
    assert ids_in(html) == [] and '<p class="empty" id="empty">' in html
    blog = blog_of(html, url)
    assert blog["liveBlogUpdate"] == [] and blog["coverageStartTime"] and blog["dateModified"]

    for i in range(20):
        post(api, channel, f"خبر رقم {i}: الحصيلة {i}–{i + 1}")
    timings = []
    with httpx.Client() as client:
        for _ in range(30):
            started = time.perf_counter()
            r = client.get(url)
            timings.append(time.perf_counter() - started)
            assert r.status_code == 200
    timings.sort()
    median = timings[len(timings) // 2]
    print(f"/live with 20 items: median {median * 1000:.1f} ms, max {timings[-1] * 1000:.1f} ms")
    assert len(ids_in(r.text)) == 20
    assert median < 0.25, f"the page took {median * 1000:.0f} ms (median)"


def test_dark_scheme_is_accessible(
    browser: Browser, server: TickerServer, api: httpx.Client, channel: str, artifacts: Path
) -> None:
    post(api, channel, "عاجل: اتصلوا على +961 1 234 567", url="https://example.org/n")
    post(api, channel, "زحمة سير على الأوتوستراد", priority="normal")
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    install(ctx)
    try:
        page = ctx.new_page()
        page.goto(f"{server.base}/live/{channel}")
        page.wait_for_function("() => customElements.get('breaking-ticker')")
        page.screenshot(path=artifacts / "live-dark-390.png", full_page=True)
        assert_accessible(page, f"/live/{channel}, dark")
    finally:
        ctx.close()


def test_hostile_text_keeps_the_live_data_well_formed(
    context: BrowserContext, server: TickerServer, api: httpx.Client, channel: str
) -> None:
    page = context.new_page()
    page.goto(f"{server.base}/live/{channel}")
    page.wait_for_function("() => customElements.get('breaking-ticker')")
    hostile = post(api, channel, '</script><script>window.pwned = 1</script> "ليس شيفرة"')
    page.wait_for_function(
        "(id) => document.getElementById(id)", arg=f"item-{hostile['id']}", timeout=5000
    )
    url = f"{server.base}/live/{channel}"
    # The rendered page, serialised as a crawler would keep it, still parses to the item.
    [update] = blog_of(page.content(), url)["liveBlogUpdate"]
    assert update["articleBody"] == hostile["text"]
    assert page.evaluate("() => window.pwned") is None
    served = httpx.get(url).text
    assert "</script><script>" not in served.split('id="live-data">')[1].split("</script>")[0]
