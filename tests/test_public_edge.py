"""The public edge of the app against real servers.

Finding 10: the Host header was reflected into feed links (cacheable for 30 s) and into
the /demo snippets. Finding 12 (the app's part): no `X-Content-Type-Options: nosniff` on
JSON, problem+json, feed and stream responses, and `/metrics` public.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import feedparser
import httpx
import pytest

from tests.support import RedisServer, TickerServer, wait_for_channel
from ticker.config import ConfigError, Settings

EVIL = "evil.example"
PUBLIC = "https://ticker.example"


@pytest.fixture(scope="module")
def public(redis_server: RedisServer) -> Iterator[TickerServer]:
    """A server that answers any Host but builds every link from its public URL; streams
    on the plain ASGI path (the fast path is tested with fastpath.py); /metrics only for
    a network the tests are not in."""
    ticker = TickerServer(
        redis_server.url,
        TICKER_PUBLIC_URL=PUBLIC + "/",
        TICKER_ALLOWED_HOSTS="*",
        TICKER_STREAM_FAST_PATH="false",
        TICKER_METRICS_ALLOW="10.0.0.0/8",
    ).start()
    yield ticker
    ticker.stop()


# Finding 10: no Host reflection


@pytest.mark.parametrize(
    "path", ["/feeds/{c}.atom", "/feeds/{c}.rss", "/feeds/{c}.json", "/demo?channel={c}"]
)
def test_by_default_a_forged_host_is_refused_and_never_repeated(
    server: TickerServer, api: httpx.Client, channel: str, path: str
) -> None:
    api.post(f"/api/v1/channels/{channel}/items", json={"text": "خبر", "url": None})
    url = server.base + path.format(c=channel)
    port = server.port
    forged = [EVIL, f"{EVIL}:443", f"{EVIL}.", "localhost.evil.example", "[::2]", "[::1"]
    # Hosts that start like an allowed one: a link built from them would point elsewhere.
    forged += [f"localhost:{port}@{EVIL}", f"localhost/{EVIL}", f"localhost:{port}/x.{EVIL}"]
    forged += ["localhost:port", f"127.0.0.1:{port}#{EVIL}", f"localhost {EVIL}"]
    for host in forged:
        r = httpx.get(url, headers={"Host": host})
        assert r.status_code == 400, host
        assert r.headers["content-type"] == "application/problem+json"
        assert "TICKER_ALLOWED_HOSTS" in r.json()["detail"]
        assert EVIL not in r.text and "::2" not in r.text
    # The names of a local first look are served, with their own links.
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"LOCALHOST:{port}"):
        r = httpx.get(url, headers={"Host": host})
        assert r.status_code == 200, host
        page = "live" if path.startswith("/feeds/") else "embed"  # feeds link the live page
        assert f"http://{host.lower()}/{page}/{channel}" in r.text.lower()


def test_with_a_public_url_every_link_starts_with_it(
    public: TickerServer, api: httpx.Client, channel: str
) -> None:
    api.post(f"/api/v1/channels/{channel}/items", json={"text": "خبر عاجل"})
    wait_for_channel(public.base, channel)
    forged = {"Host": EVIL, "X-Forwarded-Host": EVIL, "Forwarded": f"host={EVIL}"}
    for kind in ("atom", "rss", "json"):
        r = httpx.get(f"{public.base}/feeds/{channel}.{kind}", headers=forged)
        assert r.status_code == 200, r.text
        assert EVIL not in r.text
        if kind == "json":
            body = r.json()
            assert body["home_page_url"] == f"{PUBLIC}/live/{channel}"
            assert body["feed_url"] == f"{PUBLIC}/feeds/{channel}.json"
            item_id = body["items"][0]["_ticker"]["id"]
            assert body["items"][0]["url"] == f"{PUBLIC}/live/{channel}#item-{item_id}"
        else:
            parsed = feedparser.parse(r.content)
            links = [link.href for link in parsed.feed.links] + [e.link for e in parsed.entries]
            assert links and all(link.startswith(f"{PUBLIC}/") for link in links), links
    demo = httpx.get(f"{public.base}/demo", params={"channel": channel}, headers=forged)
    assert demo.status_code == 200 and EVIL not in demo.text
    assert f'&lt;script src="{PUBLIC}/widget.js"' in demo.text
    assert f'&lt;iframe src="{PUBLIC}/embed/{channel}"' in demo.text


# Finding 12: nosniff everywhere, /metrics for scrapers only

NOSNIFF_PATHS = [
    "/api/v1/channels",
    "/api/v1/channels/{c}/items",
    "/api/v1/channels/{c}/items?limit=0",  # 422 problem
    "/api/v1/channels/nothing-here/items",  # 404 problem
    "/nothing",  # 404 from the router
    "/feeds/{c}.atom",
    "/feeds/{c}.rss",
    "/feeds/{c}.json",
    "/embed/{c}",
    "/demo",
    "/widget.js",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/desk/login",
]


@pytest.mark.parametrize("path", NOSNIFF_PATHS)
def test_every_response_says_nosniff(server: TickerServer, channel: str, path: str) -> None:
    r = httpx.get(server.base + path.format(c=channel))
    assert r.headers.get_list("x-content-type-options") == ["nosniff"], (r.status_code, path)


def test_refusals_and_the_asgi_stream_say_nosniff(
    server: TickerServer, public: TickerServer, token: str, channel: str
) -> None:
    answers = [
        httpx.get(f"{server.base}/demo", headers={"Host": EVIL}),  # 400 unknown host
        httpx.post(f"{server.base}/api/v1/channels"),  # 405
        httpx.post(f"{server.base}/api/v1/channels/{channel}/items", json={"text": "x"}),  # 401
        httpx.post(
            f"{server.base}/api/v1/channels/{channel}/items",
            content=b"{",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ),  # 400
        httpx.get(f"{public.base}/metrics"),  # 403
    ]
    assert [r.status_code for r in answers] == [400, 405, 401, 400, 403]
    for r in answers:
        assert r.headers.get("x-content-type-options") == "nosniff", r.status_code
    with httpx.stream("GET", f"{public.base}/api/v1/stream", timeout=10) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers.get("x-content-type-options") == "nosniff"


def test_metrics_only_for_allowed_networks(server: TickerServer, public: TickerServer) -> None:
    # Default: loopback and private ranges, where scrapers run.
    assert httpx.get(f"{server.base}/metrics").status_code == 200
    # A public client, as a trusted proxy on loopback reports it (uvicorn's default
    # FORWARDED_ALLOW_IPS is 127.0.0.1), is refused, and so is a spoofed header mess.
    for forwarded in ("203.0.113.9", "2001:db8::1", "not-an-address"):
        r = httpx.get(f"{server.base}/metrics", headers={"X-Forwarded-For": forwarded})
        assert r.status_code == 403, forwarded
        assert r.headers["content-type"] == "application/problem+json"
        assert "TICKER_METRICS_ALLOW" in r.json()["detail"]
        assert "ticker_http_requests_total" not in r.text
    # Narrowed to 10.0.0.0/8: loopback itself is out.
    assert httpx.get(f"{public.base}/metrics").status_code == 403
    allowed = httpx.get(f"{public.base}/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert allowed.status_code == 200 and "ticker_http_requests_total" in allowed.text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TICKER_PUBLIC_URL": "ticker.example"}, "TICKER_PUBLIC_URL must be"),
        ({"TICKER_PUBLIC_URL": "ftp://ticker.example"}, "TICKER_PUBLIC_URL must be"),
        ({"TICKER_PUBLIC_URL": "https://ticker.example/?a=1"}, "TICKER_PUBLIC_URL must be"),
        ({"TICKER_PUBLIC_URL": "https://u:p@ticker.example"}, "TICKER_PUBLIC_URL must be"),
        ({"TICKER_PUBLIC_URL": "https://ticker.example:99999"}, "TICKER_PUBLIC_URL must be"),
        ({"TICKER_ALLOWED_HOSTS": "good.example, bad host"}, "'bad host' is not a host name"),
        ({"TICKER_ALLOWED_HOSTS": "http://x.example"}, "is not a host name"),
        ({"TICKER_METRICS_ALLOW": "10.0.0.0/33"}, "'10.0.0.0/33' is not a network"),
        ({"TICKER_METRICS_ALLOW": "localhost"}, "'localhost' is not a network"),
    ],
)
def test_edge_settings_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)


def test_edge_settings_accept_the_documented_forms() -> None:
    s = Settings.from_env(
        {
            "TICKER_PUBLIC_URL": "https://News.Example/ticker/",
            "TICKER_ALLOWED_HOSTS": "*.example.com, 192.0.2.7, ::1, [2001:db8::1]",
            "TICKER_METRICS_ALLOW": "none",
        }
    )
    assert s.public_url == "https://News.Example/ticker/"
    for value in ("*", "none", "10.0.0.0/8,::1,192.0.2.7"):
        Settings.from_env({"TICKER_METRICS_ALLOW": value})


async def test_a_crash_is_a_problem_with_nosniff() -> None:
    """No request of the suite makes the real server crash, so the crash net is tested
    on the middleware itself: a route that raises gets a problem+json 500, and the
    error still propagates (to be logged by the server)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.routing import Route

    from ticker.nosniff import NoSniff

    async def broken(request: Request) -> None:
        raise RuntimeError("a bug")

    app = Starlette(routes=[Route("/broken", broken)], middleware=[Middleware(NoSniff)])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get("/broken")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "a bug" not in r.text and r.json()["status"] == 500
