"""The HTTP API, rule by rule (docs/api.md), against a real server and a real Redis."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator

import httpx
import pytest

from tests.inprocess_support import app_in_thread, clock_kept
from tests.support import RedisServer, TickerServer, cli, make_token
from ticker.publishing import clock

ITEM_KEYS = {"id", "channel", "text", "url", "priority", "created_at", "updated_at", "expires_at"}


def post(api: httpx.Client, channel: str, body: object, **kw: object) -> httpx.Response:
    return api.post(f"/api/v1/channels/{channel}/items", json=body, **kw)


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def fields(body: dict) -> set[str]:
    return {e["field"] for e in body["errors"]}


# Channels and the snapshot


def test_channels_list(server: TickerServer, channel: str) -> None:
    r = httpx.get(f"{server.base}/api/v1/channels")
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    mine = next(c for c in r.json()["channels"] if c["id"] == channel)
    assert mine == {
        "id": channel,
        "title": f"Test {channel}",
        "lang": "ar",
        "dir": "rtl",
        "timezone": "Asia/Beirut",
        "default_ttl_seconds": 21600,
    }


def test_publish_returns_item_and_location(api: httpx.Client, channel: str) -> None:
    r = post(api, channel, {"text": "وزارة الطاقة: انقطاع الكهرباء عن 3 مناطق"})
    assert r.status_code == 201
    item = r.json()
    assert set(item) == ITEM_KEYS  # the author is never in public output
    assert item["channel"] == channel
    assert item["priority"] == "urgent" and item["url"] is None
    assert r.headers["location"] == f"/api/v1/channels/{channel}/items/{item['id']}"
    created = time.strptime(item["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    expires = time.strptime(item["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert time.mktime(expires) - time.mktime(created) == 6 * 3600
    assert item["updated_at"] == item["created_at"]


def test_snapshot_newest_first_with_etag(api: httpx.Client, channel: str) -> None:
    ids = [post(api, channel, {"text": f"خبر رقم {n}"}).json()["id"] for n in range(3)]
    r = httpx.get(f"{api.base_url}/api/v1/channels/{channel}/items")
    assert r.status_code == 200
    body = r.json()
    assert [i["id"] for i in body["items"]] == ids[::-1]
    assert body["last_event_id"] == ids[-1]
    assert body["channel"] == channel
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert r.headers["access-control-allow-origin"] == "*"
    etag = r.headers["etag"]
    again = httpx.get(
        f"{api.base_url}/api/v1/channels/{channel}/items", headers={"If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    limited = httpx.get(f"{api.base_url}/api/v1/channels/{channel}/items?limit=2").json()
    assert [i["id"] for i in limited["items"]] == ids[:0:-1]
    post(api, channel, {"text": "خبر جديد"})
    changed = httpx.get(
        f"{api.base_url}/api/v1/channels/{channel}/items", headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1"])
def test_snapshot_limit_out_of_range(server: TickerServer, channel: str, limit: str) -> None:
    r = httpx.get(f"{server.base}/api/v1/channels/{channel}/items?limit={limit}")
    assert fields(problem(r, 422)) == {"limit"}


def test_unknown_channel_is_404(api: httpx.Client) -> None:
    problem(httpx.get(f"{api.base_url}/api/v1/channels/nope/items"), 404)
    body = problem(post(api, "nope", {"text": "x"}), 404)
    assert "nope" in body["detail"]


# Normalisation


def test_text_is_normalised(api: httpx.Client, channel: str) -> None:
    raw = "  \u202eعاجل\u202c: e\u0301\u2066lan\u2069\x07 سطر\nثان  "
    item = post(api, channel, {"text": raw}).json()
    assert item["text"] == "عاجل: élan سطر ثان"
    assert unicodedata.is_normalized("NFC", item["text"])
    for cp in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]:
        assert chr(cp) not in item["text"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (
            "https://news.example/أخبار?q=عاجل",
            "https://news.example/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1?q=%D8%B9%D8%A7%D8%AC%D9%84",
        ),
        ("https://مثال.إختبار/a", "https://xn--mgbh0fb.xn--kgbechtv/a"),
        ("HTTPS://News.Example/a`b%zz", "https://news.example/a%60b%25zz"),
        ("https://news.example/a%20b", "https://news.example/a%20b"),
        ("", None),
    ],
)
def test_links_become_valid_uris(
    api: httpx.Client, channel: str, given: str, stored: str | None
) -> None:
    assert post(api, channel, {"text": "رابط", "url": given}).json()["url"] == stored


@pytest.mark.parametrize("url", ["https://user:pw@news.example/", "http://e.com:99999/"])
def test_bad_links_are_refused(api: httpx.Client, channel: str, url: str) -> None:
    assert fields(problem(post(api, channel, {"text": "x", "url": url}), 422)) == {"url"}


def test_html_is_kept_as_plain_text(api: httpx.Client, channel: str) -> None:
    text = "<img src=x onerror=alert(1)>"
    assert post(api, channel, {"text": text}).json()["text"] == text


def test_ttl_may_be_a_whole_number_written_as_a_float(api: httpx.Client, channel: str) -> None:
    item = post(api, channel, {"text": "x", "ttl_seconds": 600.0}).json()
    created = time.strptime(item["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    expires = time.strptime(item["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert time.mktime(expires) - time.mktime(created) == 600


def test_405_lists_every_method_of_the_path(server: TickerServer, channel: str) -> None:
    r = httpx.put(f"{server.base}/api/v1/channels/{channel}/items")
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    r = httpx.put(f"{server.base}/api/v1/channels/{channel}/items/1-0")
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"PATCH", "DELETE"}


def test_text_of_280_characters_is_accepted(api: httpx.Client, channel: str) -> None:
    assert post(api, channel, {"text": "ع" * 280}).status_code == 201


# Validation: each bad input gets its status and names the problem


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ({"text": 42}, {"text"}),
        ({"text": None}, {"text"}),
        ({"text": "ع" * 281}, {"text"}),
        ({"text": "  \u202e\u2066 \n\t "}, {"text"}),
        ({}, {"text"}),
        ({"text": "x", "url": "javascript:alert(1)"}, {"url"}),
        ({"text": "x", "url": "ftp://example.com/a"}, {"url"}),
        ({"text": "x", "url": "/relative/path"}, {"url"}),
        ({"text": "x", "url": "https://" + "a" * 2048}, {"url"}),
        ({"text": "x", "url": 5}, {"url"}),
        ({"text": "x", "ttl_seconds": 59}, {"ttl_seconds"}),
        ({"text": "x", "ttl_seconds": 604801}, {"ttl_seconds"}),
        ({"text": "x", "ttl_seconds": "600"}, {"ttl_seconds"}),
        ({"text": "x", "ttl_seconds": 600.5}, {"ttl_seconds"}),
        ({"text": "x", "ttl_seconds": True}, {"ttl_seconds"}),
        ({"text": "x", "priority": "high"}, {"priority"}),
        ({"text": "x", "author": "me"}, {"author"}),
        (
            {"text": "", "url": "javascript:x", "ttl_seconds": 1, "priority": 3},
            {"text", "url", "ttl_seconds", "priority"},
        ),
    ],
)
def test_invalid_fields_are_422_naming_each(
    api: httpx.Client, channel: str, body: dict, bad: set[str]
) -> None:
    r = post(api, channel, body)
    result = problem(r, 422)
    assert fields(result) == bad
    for name in bad:
        assert name in result["detail"]
    assert all(e["message"] for e in result["errors"])
    # Nothing was published.
    assert httpx.get(f"{api.base_url}/api/v1/channels/{channel}/items").json()["items"] == []


def test_body_not_an_object(api: httpx.Client, channel: str) -> None:
    assert fields(problem(post(api, channel, ["text"]), 422)) == {"body"}


@pytest.mark.parametrize("raw", [b"{", b"{'text': 'x'}", b"\xff\xfe", b""])
def test_malformed_json_is_400(api: httpx.Client, channel: str, raw: bytes) -> None:
    r = api.post(
        f"/api/v1/channels/{channel}/items",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    body = problem(r, 400)
    assert "JSON" in body["title"] or "JSON" in body["detail"] or "body" in body["detail"]


def test_body_over_16_kib_is_413(api: httpx.Client, channel: str) -> None:
    big = {"text": "x", "padding": "a" * (1024 * 1024)}
    problem(post(api, channel, big), 413)

    def chunks():  # no Content-Length: the cap holds while reading
        yield b'{"text": "x", "p": "'
        for _ in range(20):
            yield b"a" * 1024
        yield b'"}'

    r = api.post(f"/api/v1/channels/{channel}/items", content=chunks())
    problem(r, 413)


# Credentials


def test_no_token_is_401(server: TickerServer, channel: str) -> None:
    r = httpx.post(f"{server.base}/api/v1/channels/{channel}/items", json={"text": "x"})
    body = problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "token" in body["detail"]


@pytest.mark.parametrize(
    "header", ["Bearer tk_wrong", "Basic dXNlcjpwYXNz", "Bearer", "tk_no_scheme"]
)
def test_bad_credentials_are_401(server: TickerServer, channel: str, header: str) -> None:
    r = httpx.post(
        f"{server.base}/api/v1/channels/{channel}/items",
        json={"text": "x"},
        headers={"Authorization": header},
    )
    problem(r, 401)


def test_token_limited_to_another_channel_is_403(
    redis_server: RedisServer, server: TickerServer, channel: str
) -> None:
    other = f"{channel}-b"
    cli(redis_server.url, "channel", "add", other)
    limited = make_token(redis_server.url, f"limited-{channel}", other)
    auth = {"Authorization": f"Bearer {limited}"}
    r = httpx.post(
        f"{server.base}/api/v1/channels/{channel}/items", json={"text": "x"}, headers=auth
    )
    assert other in problem(r, 403)["detail"]
    ok = httpx.post(
        f"{server.base}/api/v1/channels/{other}/items", json={"text": "x"}, headers=auth
    )
    assert ok.status_code == 201


def test_revoked_token_is_401(
    redis_server: RedisServer, server: TickerServer, channel: str
) -> None:
    name = f"revoke-{channel}"
    token = make_token(redis_server.url, name)
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{server.base}/api/v1/channels/{channel}/items"
    assert httpx.post(url, json={"text": "x"}, headers=auth).status_code == 201
    cli(redis_server.url, "token", "revoke", name)
    problem(httpx.post(url, json={"text": "x"}, headers=auth), 401)


# Corrections and retractions


@pytest.fixture
def clocked(redis_server: RedisServer, token: str, channel: str) -> Iterator[httpx.Client]:
    """The API of an app in this process, whose clock the test may move (`clock.advance`):
    item times are whole seconds, and a test need not wait one out. Its expiry job runs
    as rarely as it may, since a moved clock would expire other tests' items early."""
    with (
        clock_kept(),
        app_in_thread(redis_server.url, TICKER_EXPIRE_INTERVAL="3600") as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client,
    ):
        yield client


def test_correct_item(clocked: httpx.Client, channel: str) -> None:
    api = clocked
    item = post(api, channel, {"text": "نص أول", "ttl_seconds": 600}).json()
    clock.advance(1)  # a second later, without waiting one
    r = api.patch(
        f"/api/v1/channels/{channel}/items/{item['id']}",
        json={"text": "نص مصحح", "url": "https://example.com/x", "priority": "normal"},
    )
    assert r.status_code == 200
    fixed = r.json()
    assert fixed["id"] == item["id"]
    assert fixed["text"] == "نص مصحح" and fixed["priority"] == "normal"
    assert fixed["url"] == "https://example.com/x"
    assert fixed["created_at"] == item["created_at"]
    assert fixed["updated_at"] > item["updated_at"]
    assert fixed["expires_at"] == item["expires_at"]
    longer = api.patch(
        f"/api/v1/channels/{channel}/items/{item['id']}", json={"ttl_seconds": 7200, "url": None}
    ).json()
    assert longer["expires_at"] > item["expires_at"] and longer["url"] is None
    snapshot = api.get(f"/api/v1/channels/{channel}/items").json()
    assert snapshot["items"] == [longer]


def test_correct_validation(api: httpx.Client, channel: str) -> None:
    item = post(api, channel, {"text": "x"}).json()
    url = f"/api/v1/channels/{channel}/items/{item['id']}"
    assert fields(problem(api.patch(url, json={"text": ""}), 422)) == {"text"}
    assert fields(problem(api.patch(url, json={}), 422)) == {"body"}
    problem(api.patch(f"/api/v1/channels/{channel}/items/1-0", json={"text": "y"}), 404)
    problem(api.patch(f"/api/v1/channels/{channel}/items/not-an-id", json={"text": "y"}), 404)


def test_retract_item(api: httpx.Client, channel: str, server: TickerServer) -> None:
    keep = post(api, channel, {"text": "يبقى"}).json()
    gone = post(api, channel, {"text": "يسحب"}).json()
    r = api.request(
        "DELETE", f"/api/v1/channels/{channel}/items/{gone['id']}", json={"reason": "خطأ في المصدر"}
    )
    assert r.status_code == 204 and r.content == b""
    items = httpx.get(f"{server.base}/api/v1/channels/{channel}/items").json()["items"]
    assert [i["id"] for i in items] == [keep["id"]]
    problem(api.delete(f"/api/v1/channels/{channel}/items/{gone['id']}"), 404)
    assert api.delete(f"/api/v1/channels/{channel}/items/{keep['id']}").status_code == 204


def test_retract_reason_validated(api: httpx.Client, channel: str) -> None:
    item = post(api, channel, {"text": "x"}).json()
    url = f"/api/v1/channels/{channel}/items/{item['id']}"
    assert fields(problem(api.request("DELETE", url, json={"reason": "x" * 281}), 422)) == {
        "reason"
    }
    assert fields(problem(api.request("DELETE", url, json={"why": "x"}), 422)) == {"why"}


def test_publishing_needs_a_token_for_patch_and_delete(server: TickerServer, channel: str) -> None:
    url = f"{server.base}/api/v1/channels/{channel}/items/1-0"
    problem(httpx.patch(url, json={"text": "x"}), 401)
    problem(httpx.delete(url), 401)


# Idempotency


def test_same_idempotency_key_publishes_once(api: httpx.Client, channel: str) -> None:
    body = {"text": "خبر لا يتكرر", "ttl_seconds": 3600}
    key = {"Idempotency-Key": f"key-{channel}"}
    first = post(api, channel, body, headers=key)
    second = post(api, channel, body, headers=key)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["location"] == first.headers["location"]
    items = httpx.get(f"{api.base_url}/api/v1/channels/{channel}/items").json()["items"]
    assert len(items) == 1
    other = post(api, channel, {"text": "خبر آخر"}, headers=key)
    assert problem(other, 422)["title"] == "Idempotency-Key reused"
    assert post(api, channel, body, headers={"Idempotency-Key": "fresh"}).status_code == 201


def test_unknown_route_is_problem_json(server: TickerServer) -> None:
    problem(httpx.get(f"{server.base}/api/v1/nothing"), 404)
    problem(httpx.put(f"{server.base}/api/v1/channels"), 405)


def test_health_and_readiness(server: TickerServer) -> None:
    assert httpx.get(f"{server.base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.base}/readyz")
    assert ready.status_code == 200 and ready.json()["redis"] == "ok"
