"""Serving the widget over HTTP: /widget.js compressed within its budget, cached
and versioned; /embed/{channel} rendered on the server, escaped, under a strict CSP that any
site may frame; its options validated; /demo."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from tests.support import RedisServer, TickerServer, cli, wait_for_channel
from tests.test_embed_units import widget_rtl_langs
from ticker.model import RTL_LANGS

BUDGET = 8 * 1024  # bytes on the wire, minified and gzipped


def raw_get(url: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (httpx would decompress it)."""
    with httpx.Client() as client, client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_widget_js_is_gzipped_within_budget_and_cached(server: TickerServer) -> None:
    response, body = raw_get(f"{server.base}/widget.js", **{"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert len(body) <= BUDGET, f"widget.js is {len(body)} bytes gzipped, over {BUDGET}"
    print(f"widget.js: {len(body)} bytes gzipped, {len(gzip.decompress(body))} minified")
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["x-content-type-options"] == "nosniff"
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{16}-gzip"', etag)  # strong: no W/

    script = gzip.decompress(body)
    assert b"customElements.define('breaking-ticker'" in script
    assert b"/*@css*/" not in script and b":host{display:block" in script  # stylesheet inlined

    again = httpx.get(
        f"{server.base}/widget.js", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=300"

    plain, plain_body = raw_get(f"{server.base}/widget.js", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain_body == script
    version = hashlib.sha256(script).hexdigest()[:16]
    assert plain.headers["etag"] == f'"{version}"'
    refused, _ = raw_get(f"{server.base}/widget.js", **{"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_the_served_widget_writes_right_to_left_the_server_s_languages(
    server: TickerServer,
) -> None:
    # One list, ticker/model.py's RTL_LANGS, written into the widget when it is built.
    script = httpx.get(f"{server.base}/widget.js").content
    assert b"@rtl" not in script
    assert widget_rtl_langs(script) == RTL_LANGS


def test_versioned_widget_url_is_immutable(server: TickerServer) -> None:
    page = httpx.get(f"{server.base}/demo").text
    src = re.search(r'<script src="(/widget-[0-9a-f]{16}\.js)" async>', page)
    assert src is not None
    pinned = httpx.get(server.base + src.group(1))
    assert pinned.status_code == 200
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert pinned.content == httpx.get(f"{server.base}/widget.js").content
    # A version this server does not have (a page cached across a deploy): today's script,
    # but not for a year.
    old = httpx.get(f"{server.base}/widget-0123456789abcdef.js")
    assert old.status_code == 200 and old.headers["cache-control"] == "public, max-age=300"
    head = httpx.head(f"{server.base}/widget.js")
    assert head.status_code == 200 and head.content == b""


def test_stylesheets(server: TickerServer) -> None:
    page = httpx.get(f"{server.base}/demo").text
    hrefs = re.findall(r'<link rel="stylesheet" href="([^"]+)">', page)
    assert len(hrefs) == 2
    for href in hrefs:
        css = httpx.get(server.base + href)
        assert css.status_code == 200
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert httpx.get(f"{server.base}/widget/nothing.css").status_code == 404


def test_embed_page_renders_the_items_escaped_under_a_frameable_csp(
    server: TickerServer, api: httpx.Client, channel: str
) -> None:
    plain = api.post(
        f"/api/v1/channels/{channel}/items",
        json={
            "text": "وكالة NASA: إطلاق المسبار Europa-2 تأجل 48 ساعة",
            "url": "https://a.example/x",
        },
    ).json()
    evil = api.post(
        f"/api/v1/channels/{channel}/items", json={"text": "<img src=x onerror=alert(1)>"}
    ).json()
    r = httpx.get(f"{server.base}/embed/{channel}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    policy = r.headers["content-security-policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "style-src 'self'",
        "frame-ancestors *",
    ):
        assert directive in policy
    assert "x-frame-options" not in r.headers
    html = r.text
    assert '<html lang="ar" dir="rtl">' in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="https://a.example/x" target="_blank" rel="noopener noreferrer"' in html
    # Newest first, each `HH:MM` then the sentence, in the channel's zone (Asia/Beirut).
    ids = re.findall(r'<li data-id="([^"]+)"', html)
    assert ids == [evil["id"], plain["id"]]
    at = datetime.fromisoformat(plain["created_at"].replace("Z", "+00:00"))
    hhmm = at.astimezone(ZoneInfo("Asia/Beirut")).strftime("%H:%M")
    assert f'<time datetime="{plain["created_at"]}">{hhmm}</time>' in html

    # The state the widget starts from, and the stream position it resumes at.
    state = json.loads(re.search(r'<script type="application/json">(.*?)</script>', html).group(1))
    snapshot = httpx.get(f"{server.base}/api/v1/channels/{channel}/items").json()
    assert state["position"] == snapshot["last_event_id"] == evil["id"]
    assert state["snapshots"][0]["items"] == snapshot["items"]
    assert state["channels"][channel]["dir"] == "rtl"
    assert "<img" not in re.search(r'<script type="application/json">.*?</script>', html).group(0)


def test_embed_options(server: TickerServer, api: httpx.Client, channel: str) -> None:
    item = api.post(f"/api/v1/channels/{channel}/items", json={"text": "خبر"}).json()
    query = "mode=marquee&digits=arab&hour-cycle=h12&theme=dark&timezone=UTC&limit=5&utm_source=x"
    html = httpx.get(f"{server.base}/embed/{channel}?{query}").text
    assert re.search(r'<breaking-ticker channel="[^"]+" mode="marquee" limit="5"', html)
    assert 'data-mode="marquee" data-theme="dark"' in html
    assert 'role="marquee" aria-label="عاجل"' in html
    at = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
    hour = at.hour % 12 or 12
    expected = f"{hour:02d}:{at.minute:02d} {'م' if at.hour >= 12 else 'ص'}"
    expected = expected.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert f">{expected}</time>" in html

    bad = httpx.get(f"{server.base}/embed/{channel}?mode=ticker&limit=500&timezone=Mars/Base")
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"mode", "limit", "timezone"}


def test_embed_in_english_follows_the_channel(
    server: TickerServer, api: httpx.Client, channel: str, redis_server: RedisServer
) -> None:
    cli(redis_server.url, "channel", "add", channel, "--lang", "en", "--timezone", "Asia/Tokyo")
    wait_for_channel(server.base, channel, lang="en")
    item = api.post(f"/api/v1/channels/{channel}/items", json={"text": "Quake off the coast"})
    at = datetime.fromisoformat(item.json()["created_at"].replace("Z", "+00:00"))
    html = httpx.get(f"{server.base}/embed/{channel}").text
    assert '<html lang="en" dir="ltr">' in html and ">Breaking</span>" in html
    assert f">{at.astimezone(ZoneInfo('Asia/Tokyo')).strftime('%H:%M')}</time>" in html


def test_embed_of_an_unknown_channel_is_a_404_page(server: TickerServer) -> None:
    for path in ("/embed/no-such-channel", "/embed/NOT_AN_ID", "/embed/a,no-such-channel"):
        r = httpx.get(server.base + path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert "frame-ancestors *" in r.headers["content-security-policy"]
        assert "لا توجد قناة بهذا الاسم" in r.text


def test_demo_page(server: TickerServer, api: httpx.Client, channel: str) -> None:
    r = httpx.get(f"{server.base}/demo?channel={channel}")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert html.count("<breaking-ticker ") == 2
    assert f'<breaking-ticker channel="{channel}" mode="marquee"' in html
    assert f'<breaking-ticker channel="{channel}" mode="list"' in html
    assert f"{server.base}/widget.js" in html  # the snippet to copy names this server
    assert f"ticker post --channel {channel}" in html  # empty: how to post, no fake items
    api.post(f"/api/v1/channels/{channel}/items", json={"text": "خبر حقيقي"})
    html = httpx.get(f"{server.base}/demo?channel={channel}").text
    assert f"ticker post --channel {channel}" not in html and "خبر حقيقي" in html
    assert httpx.get(f"{server.base}/demo?channel=no-such-channel").status_code == 404
    assert httpx.get(f"{server.base}/demo?theme=sepia").status_code == 400
