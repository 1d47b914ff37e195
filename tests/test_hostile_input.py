"""Hostile input against a real server.

Finding 6: text with code points that XML cannot carry (U+FFFE, U+FFFF, …) was stored,
and the channel's Atom and RSS feeds answered 500 until it expired. Finding 7: some
parse failures a client can cause answered a plain-text 500 instead of a 4xx
problem+json. Both are replayed here against `ticker serve` and a real Redis.
"""

from __future__ import annotations

import json

import feedparser
import httpx
import pytest

from tests.support import TickerServer

# One code point of each class that XML 1.0 forbids or that Unicode reserves.
CODE_POINTS = {
    "U+FFFE": "\ufffe",
    "U+FFFF": "\uffff",
    "U+FDD0 (noncharacter block start)": "\ufdd0",
    "U+FDEF (noncharacter block end)": "\ufdef",
    "U+1FFFE (plane 1 end)": "\U0001fffe",
    "U+10FFFF (last plane end)": "\U0010ffff",
    "U+0001 (C0 control)": "\x01",
    "U+001B (ESC)": "\x1b",
    "U+001F (C0 control)": "\x1f",
    "U+007F (DEL)": "\x7f",
    "U+0085 (C1 control)": "\x85",
    "U+009B (C1 CSI)": "\x9b",
}
XML_FORBIDDEN = {chr(cp) for cp in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]} | {
    "\ufffe",
    "\uffff",
}


def items_url(channel: str) -> str:
    return f"/api/v1/channels/{channel}/items"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


@pytest.mark.parametrize("name", list(CODE_POINTS))
def test_every_feed_carries_text_posted_with_forbidden_code_points(
    api: httpx.Client, server: TickerServer, channel: str, name: str
) -> None:
    ch = CODE_POINTS[name]
    posted = api.post(items_url(channel), json={"text": f"عاجل{ch} خبر {ch}أول"})
    assert posted.status_code == 201, posted.text
    stored = posted.json()["text"]
    assert ch not in stored and stored == "عاجل خبر أول"
    corrected = api.patch(
        f"{items_url(channel)}/{posted.json()['id']}", json={"text": f"تصحيح{ch}"}
    )
    assert corrected.status_code == 200 and corrected.json()["text"] == "تصحيح"
    for kind in ("atom", "rss", "json"):
        r = httpx.get(f"{server.base}/feeds/{channel}.{kind}")
        assert r.status_code == 200, f"{kind}: {r.text}"
        body = r.content.decode("utf-8")
        assert not XML_FORBIDDEN & set(body), kind
        if kind == "json":
            assert [i["content_text"] for i in r.json()["items"]] == ["تصحيح"]
        else:
            parsed = feedparser.parse(r.content)
            assert not parsed.bozo, parsed.get("bozo_exception")
            assert [e.title for e in parsed.entries] == ["تصحيح"]


@pytest.mark.parametrize("field", ["text", "url"])
def test_a_lone_surrogate_is_refused_naming_its_field(
    api: httpx.Client, channel: str, field: str
) -> None:
    body = {"text": "خبر", field: "https://news.example/\\ud800" if field == "url" else "x\\ud800"}
    raw = "{" + ",".join(f'"{k}": "{v}"' for k, v in body.items()) + "}"
    r = api.post(
        items_url(channel), content=raw.encode(), headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(r, 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert "U+D800" in problem["detail"]


# Finding 7: every parse failure a client can cause, as a table. Each row: method, path
# (with {c} for the channel), raw body or None, and the status expected.
DEEP = "[" * 8000 + "]" * 8000
PARSE_FAILURES: dict[str, tuple[str, str, str | bytes | None, int]] = {
    "lone surrogate in text": ("POST", "/api/v1/channels/{c}/items", '{"text": "\\ud800"}', 422),
    "lone surrogate as a field name": ("POST", "/api/v1/channels/{c}/items", '{"\\udfff": 1}', 422),
    "lone surrogate in a correction": (
        "PATCH",
        "/api/v1/channels/{c}/items/1-1",
        '{"text": "a\\udbff"}',
        422,
    ),
    "lone surrogate in a retraction reason": (
        "DELETE",
        "/api/v1/channels/{c}/items/1-1",
        '{"reason": "\\ud800"}',
        422,
    ),
    "5000-digit ttl": (
        "POST",
        "/api/v1/channels/{c}/items",
        '{"text": "x", "ttl_seconds": ' + "9" * 5000 + "}",
        400,
    ),
    "5000-digit number as the body": ("POST", "/api/v1/channels/{c}/items", "1" * 5000, 400),
    "8000-deep arrays": ("POST", "/api/v1/channels/{c}/items", DEEP, 400),
    # As deep as objects go within the 16 KiB body cap: far past the parser's recursion.
    "2500-deep objects": (
        "POST",
        "/api/v1/channels/{c}/items",
        '{"a":' * 2500 + "1" + "}" * 2500,
        400,
    ),
    "8000-deep text value": (
        "POST",
        "/api/v1/channels/{c}/items",
        '{"text": ' + DEEP + "}",
        400,
    ),
    "invalid UTF-8": ("POST", "/api/v1/channels/{c}/items", b'{"text": "\xff"}', 400),
    "items ?limit=² (superscript two)": ("GET", "/api/v1/channels/{c}/items?limit=²", None, 422),
    "items ?limit=١٠ (Arabic-Indic digits)": (
        "GET",
        "/api/v1/channels/{c}/items?limit=١٠",
        None,
        422,
    ),
    "items ?limit=9999999999999": (
        "GET",
        "/api/v1/channels/{c}/items?limit=9999999999999",
        None,
        422,
    ),
    "items ?limit=-1": ("GET", "/api/v1/channels/{c}/items?limit=-1", None, 422),
    "embed ?limit=²": ("GET", "/embed/{c}?limit=²", None, 400),
    "embed ?limit=٣": ("GET", "/embed/{c}?limit=٣", None, 400),
    "demo ?limit=²": ("GET", "/demo?limit=²", None, 400),
    "embed ?label= only spaces": ("GET", "/embed/{c}?label=%20%20", None, 400),
    "embed ?timezone=../../etc/passwd": ("GET", "/embed/{c}?timezone=../../etc/passwd", None, 400),
    "item id with a newline": ("PATCH", "/api/v1/channels/{c}/items/1-1%0A", '{"text": "x"}', 404),
    "channel with a newline": ("GET", "/api/v1/channels/{c}%0A/items", None, 404),
    "feed with a newline": ("GET", "/feeds/{c}%0A.atom", None, 404),
}


@pytest.mark.parametrize("case", list(PARSE_FAILURES))
def test_parse_failures_are_4xx_problems(
    server: TickerServer, token: str, channel: str, case: str
) -> None:
    method, path, body, status = PARSE_FAILURES[case]
    content = body.encode() if isinstance(body, str) else body
    headers = {"Authorization": f"Bearer {token}"}
    if content is not None:
        headers["Content-Type"] = "application/json"
    # Bodies over the 16 KiB cap are refused before parsing (413); these test the parser.
    assert content is None or len(content) <= 16 * 1024, case
    r = httpx.request(
        method, server.base + path.format(c=channel), content=content, headers=headers, timeout=10
    )
    problem = assert_problem(r, status)
    json.dumps(problem)  # a problem is plain JSON, whatever the client sent
    assert server.proc is not None and server.proc.poll() is None
