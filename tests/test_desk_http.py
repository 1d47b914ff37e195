"""The desk over plain HTTP against a real `ticker serve` and Redis: sessions, CSRF,
throttling, roles, the no-JavaScript forms, the audit, admin pages, headers."""

from __future__ import annotations

import csv
import io
import re
import time

import httpx
import pytest

from tests.desk_support import (
    PASSWORD,
    add_user,
    csrf_of,
    desk_client,
    hidden,
    login,
    login_attempt,
    session_key,
    unique,
)
from tests.support import RedisServer, TickerServer, cli
from tests.waiting import wait_for
from ticker.auth.sessions import COOKIE
from ticker.bidi import isolate_digits
from ticker.store.keys import Keys

KEYS = Keys("ticker:")


def items(base: str, channel: str) -> list[dict]:
    return httpx.get(f"{base}/api/v1/channels/{channel}/items").json()["items"]


def assert_security_headers(r: httpx.Response) -> None:
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "style-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"


def publish_form(
    client: httpx.Client, csrf: str, channel: str, text: str, key: str = "", **extra: str
) -> httpx.Response:
    if not key:
        key = hidden(client.get(f"/desk/compose?channel={channel}").text, "idempotency_key")
    data = {
        "csrf": csrf,
        "idempotency_key": key,
        "channel": channel,
        "text": text,
        "priority": "urgent",
        "ttl_seconds": "3600",
        "url": "",
        **extra,
    }
    return client.post("/desk/publish", data=data)


@pytest.fixture
def editor(redis_server: RedisServer, server: TickerServer, channel: str) -> str:
    return add_user(redis_server.url, "editor", channel)


@pytest.fixture
def admin(redis_server: RedisServer, server: TickerServer) -> str:
    return add_user(redis_server.url, "admin")


def test_pages_send_security_headers(server: TickerServer, editor: str) -> None:
    with desk_client(server.base) as c:
        for path in ("/desk/login", "/desk/nowhere", "/desk/static/desk.js"):
            r = c.get(path)
            assert_security_headers(r)
        assert c.get("/desk/nowhere").status_code == 404
        assert "text/html" in c.get("/desk/nowhere").headers["content-type"]
        login(c, editor)
        r = c.get("/desk/compose")
        assert_security_headers(r)
        assert r.headers["cache-control"] == "no-store"
        # No inline script and no inline style attribute anywhere in the page.
        assert "<script>" not in r.text and " style=" not in r.text
        assert 'type="module" src="/desk/static/desk.js?v=' in r.text
        static = c.get("/desk/static/desk.js", params={"v": "x"})
        assert static.headers["content-type"].startswith("text/javascript")
        etag = static.headers["etag"]
        assert c.get("/desk/static/desk.js", headers={"If-None-Match": etag}).status_code == 304
        assert c.get("/desk/static/../../ticker/app.py").status_code == 404


def test_login_sets_a_safe_cookie_and_logout_ends_the_session(
    server: TickerServer, editor: str
) -> None:
    with desk_client(server.base) as c:
        assert c.get("/desk/compose").headers["location"].startswith("/desk/login")
        r = login_attempt(c, editor, PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/desk/compose"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP here; behind TLS it is Secure
        csrf = csrf_of(c.get("/desk/compose").text)
        stolen = c.cookies[COOKIE]
        assert c.post("/desk/logout", data={"csrf": csrf}).status_code == 303
        assert c.get("/desk/compose").status_code == 303
    # The old cookie is dead on the server, not only forgotten by this browser.
    with desk_client(server.base) as other:
        other.cookies.set(COOKIE, stolen)
        assert other.get("/desk/compose").status_code == 303


def test_idle_timeout_restarts_with_activity_and_the_session_has_a_deadline(
    server: TickerServer, redis_server: RedisServer, editor: str
) -> None:
    r = redis_server.client()
    with desk_client(server.base) as c:
        login(c, editor)
        key = session_key(c)
        assert 3500 < r.ttl(key) <= 3600  # the idle timeout: 60 minutes
        r.expire(key, 100)
        assert c.get("/desk/compose").status_code == 200
        assert r.ttl(key) > 3500  # a request restarts it
        r.pexpire(key, 1)  # idle too long
        wait_for(lambda: r.exists(key) == 0, "Redis has expired the idle session")
        page = c.get("/desk/compose")
        assert page.status_code == 303 and "expired=1" in page.headers["location"]
        assert "انتهت جلستك" in c.get(page.headers["location"]).text
    with desk_client(server.base) as c:
        login(c, editor)
        key = session_key(c)
        record = r.get(key)
        assert record is not None
        r.set(key, re.sub(r'"deadline_ms":\d+', '"deadline_ms":1', record), keepttl=True)
        assert c.get("/desk/compose").status_code == 303  # past its fixed end
        assert r.get(key) is None


def test_secure_cookie_behind_tls(server: TickerServer, editor: str) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (a local nginx), as in deploy/.
    with desk_client(server.base) as c:
        form = c.get("/desk/login")
        r = c.post(
            "/desk/login",
            data={"csrf": hidden(form.text, "csrf"), "name": editor, "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert r.status_code == 303
        assert "Secure" in r.headers["set-cookie"]


def test_wrong_password_is_refused_and_says_what_to_do(server: TickerServer, editor: str) -> None:
    with desk_client(server.base) as c:
        r = login_attempt(c, editor, "wrong password")
        assert r.status_code == 401
        assert COOKIE not in c.cookies
        assert "غير صحيحة" in r.text  # Arabic first
        form = c.get("/desk/login")
        no_csrf = c.post("/desk/login", data={"name": editor, "password": PASSWORD})
        assert no_csrf.status_code == 403 and form.status_code == 200


def test_form_post_without_csrf_is_refused(server: TickerServer, editor: str, channel: str) -> None:
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        r = publish_form(c, "", channel, "بلا رمز")
        assert r.status_code == 403
        r = publish_form(c, "forged", channel, "برمز مزور")
        assert r.status_code == 403
        assert_security_headers(r)
        assert items(server.base, channel) == []
        assert publish_form(c, csrf, channel, "برمز صحيح").status_code == 303


def test_api_with_session_needs_the_csrf_header(
    server: TickerServer, editor: str, channel: str
) -> None:
    url = f"/api/v1/channels/{channel}/items"
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        r = c.post(url, json={"text": "بلا رمز"})
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"
        assert (
            c.post(url, json={"text": "رمز خطأ"}, headers={"X-CSRF-Token": "no"}).status_code == 403
        )
        r = c.post(url, json={"text": "من المكتب"}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 201
        item = r.json()
        assert set(item) >= {"id", "text"} and "actor" not in item
    with desk_client(server.base) as stranger:
        stranger.cookies.set(COOKIE, "forged.cookie.value")
        assert stranger.post(url, json={"text": "x"}).status_code == 401


def test_editor_on_a_channel_not_allowed_gets_403(
    server: TickerServer, redis_server: RedisServer, editor: str, channel: str
) -> None:
    other = unique("other")
    cli(redis_server.url, "channel", "add", other)
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        api = c.post(
            f"/api/v1/channels/{other}/items",
            json={"text": "ليس لي"},
            headers={"X-CSRF-Token": csrf},
        )
        assert api.status_code == 403
        r = publish_form(c, csrf, other, "نص يبقى في النموذج")
        assert r.status_code == 403
        assert "نص يبقى في النموذج" in r.text  # the text stays
        assert c.get(f"/desk/items/{other}/1-0/edit").status_code == 403
        assert c.get("/desk/audit").status_code == 403  # editors have no admin pages
        assert c.get("/desk/admin/users").status_code == 403
    assert items(server.base, other) == []


def test_publish_without_javascript_once_per_form(
    server: TickerServer, editor: str, channel: str
) -> None:
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        page = c.get(f"/desk/compose?channel={channel}")
        key = hidden(page.text, "idempotency_key")
        text = "الجيش: إغلاق طريق المطار حتى الساعة 18:00 (تحديث)"
        r = publish_form(c, csrf, channel, text, key=key)
        assert r.status_code == 303 and "done=published" in r.headers["location"]
        # A double click, or the form resubmitted from the history: the same key.
        again = publish_form(c, csrf, channel, text, key=key)
        assert "done=already" in again.headers["location"]
        assert [i["text"] for i in items(server.base, channel)] == [text]
        shown = c.get(r.headers["location"])
        assert isolate_digits(text) in shown.text and "نُشر الخبر" in shown.text
        # A new render has a new key.
        assert hidden(shown.text, "idempotency_key") != key


def test_invalid_input_keeps_the_text(server: TickerServer, editor: str, channel: str) -> None:
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        long_text = "خبر " * 80
        r = publish_form(c, csrf, channel, long_text, url="javascript:alert(1)")
        assert r.status_code == 422
        assert long_text.strip() in r.text
        assert 'id="text-error"' in r.text and 'id="url-error"' in r.text
        assert items(server.base, channel) == []


def test_session_expired_keeps_the_text_through_login(
    server: TickerServer, redis_server: RedisServer, editor: str, channel: str
) -> None:
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        redis_server.client().delete(session_key(c))
        text = "نص كُتب قبل انتهاء الجلسة"
        r = publish_form(c, csrf, channel, text, key="form-1")
        assert r.status_code == 401
        assert "انتهت جلستك" in r.text and text in r.text
        # Logging in from that page brings the text back into the compose form.
        r = c.post(
            "/desk/login",
            data={
                "csrf": hidden(r.text, "csrf"),
                "name": editor,
                "password": PASSWORD,
                "next": "/desk/compose",
                "draft": hidden(r.text, "draft"),
            },
        )
        assert r.status_code == 303
        page = c.get(r.headers["location"])
        assert f">{text}</textarea>" in page.text
        assert items(server.base, channel) == []  # nothing was published on the way


def test_correct_and_retract_without_javascript(
    server: TickerServer, editor: str, channel: str
) -> None:
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        publish_form(c, csrf, channel, "النص الأول")
        item = items(server.base, channel)[0]
        edit = c.get(f"/desk/items/{channel}/{item['id']}/edit")
        assert edit.status_code == 200 and "النص الأول" in edit.text
        r = c.post(
            f"/desk/items/{channel}/{item['id']}/edit",
            data={
                "csrf": csrf,
                "text": "النص المصحح",
                "url": "",
                "priority": "normal",
                "ttl_seconds": "",
            },
        )
        assert r.status_code == 303 and "done=corrected" in r.headers["location"]
        corrected = items(server.base, channel)[0]
        assert corrected["id"] == item["id"] and corrected["text"] == "النص المصحح"
        assert corrected["priority"] == "normal"
        page = c.get(f"/desk/items/{channel}/{item['id']}/retract")
        assert "لا يمكن التراجع" in page.text  # a confirmation first
        empty = c.post(f"/desk/items/{channel}/{item['id']}/retract", data={"csrf": csrf})
        assert empty.status_code == 422  # a reason is required
        r = c.post(
            f"/desk/items/{channel}/{item['id']}/retract",
            data={"csrf": csrf, "reason": "خطأ في المصدر"},
        )
        assert r.status_code == 303 and "done=retracted" in r.headers["location"]
        assert items(server.base, channel) == []
        page = c.get(r.headers["location"])
        assert "خطأ في المصدر" in page.text  # in the recently ended section
        gone = c.get(f"/desk/items/{channel}/{item['id']}/edit")
        assert gone.status_code == 303 and "done=gone" in gone.headers["location"]


def test_disabled_user_cannot_log_in_and_their_session_stops(
    server: TickerServer, redis_server: RedisServer, editor: str, channel: str
) -> None:
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        url = f"/api/v1/channels/{channel}/items"
        assert c.post(url, json={"text": "قبل"}, headers={"X-CSRF-Token": csrf}).status_code == 201
        out = cli(redis_server.url, "user", "disable", editor)
        assert "ended 1 open session" in out.stdout
        assert c.post(url, json={"text": "بعد"}, headers={"X-CSRF-Token": csrf}).status_code == 401
        assert c.get("/desk/compose").status_code == 303
        r = login_attempt(c, editor, PASSWORD)
        assert r.status_code == 403 and "معطّل" in r.text
        cli(redis_server.url, "user", "enable", editor)
        assert login_attempt(c, editor, PASSWORD).status_code == 303


def test_admin_disabling_a_user_ends_their_session(
    server: TickerServer, editor: str, admin: str, channel: str
) -> None:
    with desk_client(server.base) as ed, desk_client(server.base) as boss:
        ed_csrf = login(ed, editor)
        boss_csrf = login(boss, admin)
        r = boss.post(f"/desk/admin/users/{editor}", data={"csrf": boss_csrf, "action": "disable"})
        assert r.status_code == 303
        r = ed.post(
            f"/api/v1/channels/{channel}/items",
            json={"text": "x"},
            headers={"X-CSRF-Token": ed_csrf},
        )
        assert r.status_code == 401
        # An admin cannot lock themselves out.
        me = boss.post(f"/desk/admin/users/{admin}", data={"csrf": boss_csrf, "action": "disable"})
        assert me.status_code == 409


def test_audit_records_every_change_with_who_and_what(
    server: TickerServer,
    redis_server: RedisServer,
    editor: str,
    admin: str,
    channel: str,
    token: str,
) -> None:
    with desk_client(server.base) as ed:
        csrf = login(ed, editor)
        h = {"X-CSRF-Token": csrf}
        url = f"/api/v1/channels/{channel}/items"
        first = ed.post(
            url, json={"text": '=HYPERLINK("x") قبل', "ttl_seconds": 3600}, headers=h
        ).json()
        ed.patch(f"{url}/{first['id']}", json={"text": "بعد التصحيح"}, headers=h)
        ed.request("DELETE", f"{url}/{first['id']}", json={"reason": "خطأ"}, headers=h)
    # An expiry, and a publish by token, are recorded too.
    second = httpx.post(
        f"{server.base}{url}",
        json={"text": "ينتهي الآن"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    redis_server.client().zadd(KEYS.expiry, {f"{channel}/{second['id']}": 1})
    wait_for(lambda: not items(server.base, channel), "the item has expired", timeout=5)
    with desk_client(server.base) as boss:
        login(boss, admin)
        page = boss.get("/desk/audit", params={"channel": channel})
        assert page.status_code == 200
        text = page.text
        for needle in (editor, "بعد التصحيح", "خطأ", "ينتهي الآن", "انتهاء تلقائي", "tests"):
            assert needle in text, needle
        only_editor = boss.get("/desk/audit", params={"channel": channel, "user": f"user:{editor}"})
        assert only_editor.text.count('data-type="') == 3
        day = time.strftime("%Y-%m-%d", time.gmtime())
        csv_r = boss.get("/desk/audit.csv", params={"channel": channel})
        assert csv_r.headers["content-type"].startswith("text/csv")
        assert "attachment" in csv_r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(csv_r.content.decode("utf-8-sig"))))
        actions = [r["action"] for r in rows]
        assert actions == ["expire", "publish", "retract", "update", "publish", "channel"]
        update = rows[3]
        assert update["who"] == editor and update["new_text"] == "بعد التصحيح"
        assert update["old_text"].startswith("'=HYPERLINK")  # never a live formula
        assert rows[2]["reason"] == "خطأ"
        assert boss.get("/desk/audit", params={"day": day}).status_code == 200
        assert boss.get("/desk/audit", params={"day": "1999-01-01"}).text.count("data-type=") == 0


def test_admin_pages_manage_channels_users_and_tokens(
    server: TickerServer, redis_server: RedisServer, admin: str
) -> None:
    with desk_client(server.base) as boss:
        csrf = login(boss, admin)
        new_channel = unique("ch")
        r = boss.post(
            "/desk/admin/channels",
            data={
                "csrf": csrf,
                "id": new_channel,
                "title": "لبنان",
                "lang": "ar",
                "timezone": "Asia/Beirut",
                "ttl_hours": "3",
            },
        )
        assert r.status_code == 303
        bad = boss.post(
            "/desk/admin/channels",
            data={
                "csrf": csrf,
                "id": "Bad Id",
                "title": "",
                "lang": "ar",
                "timezone": "Mars/Base",
                "ttl_hours": "5",
            },
        )
        assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
        r = boss.post(
            f"/desk/admin/channels/{new_channel}",
            data={
                "csrf": csrf,
                "title": "Lebanon",
                "lang": "en",
                "timezone": "UTC",
                "ttl_hours": "12",
            },
        )
        assert r.status_code == 303
        channels = httpx.get(f"{server.base}/api/v1/channels").json()["channels"]
        saved = next(c for c in channels if c["id"] == new_channel)
        assert saved["title"] == "Lebanon" and saved["default_ttl_seconds"] == 12 * 3600
        assert saved["dir"] == "ltr"

        name = unique("newbie")
        r = boss.post(
            "/desk/admin/users",
            data={
                "csrf": csrf,
                "name": name,
                "role": "editor",
                "password": "long enough pass",
                "channels": new_channel,
            },
        )
        assert r.status_code == 303
        with desk_client(server.base) as newbie:
            login(newbie, name, "long enough pass")
        r = boss.post(
            f"/desk/admin/users/{name}",
            data={"csrf": csrf, "action": "password", "password": "another one here"},
        )
        assert r.status_code == 303
        with desk_client(server.base) as newbie:
            assert login_attempt(newbie, name, "long enough pass").status_code == 401
            login(newbie, name, "another one here")

        token_name = unique("cms")
        r = boss.post(
            "/desk/admin/tokens",
            data={"csrf": csrf, "name": token_name, "channels": new_channel},
        )
        assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
        found = re.search(r'value="(tk_[^"]+)"', r.text)
        assert found, "the new token is shown"
        secret = found.group(1)
        api = f"{server.base}/api/v1/channels/{new_channel}/items"
        auth = {"Authorization": f"Bearer {secret}"}
        assert httpx.post(api, json={"text": "من النظام"}, headers=auth).status_code == 201
        assert secret not in boss.get("/desk/admin/tokens").text  # shown once
        r = boss.post(f"/desk/admin/tokens/{token_name}/revoke", data={"csrf": csrf})
        assert r.status_code == 303
        assert httpx.post(api, json={"text": "بعد الإلغاء"}, headers=auth).status_code == 401
        audit = boss.get("/desk/audit", params={"user": f"user:{admin}"}).text
        assert token_name in audit and name in audit


def test_language_from_the_browser_and_switchable(server: TickerServer) -> None:
    with desk_client(server.base) as c:
        ar = c.get("/desk/login")
        assert '<html lang="ar" dir="rtl">' in ar.text
        en = c.get("/desk/login", headers={"Accept-Language": "en-GB,en;q=0.9,ar;q=0.5"})
        assert '<html lang="en" dir="ltr">' in en.text and "Log in" in en.text
        r = c.get("/desk/lang/en", params={"next": "/desk/login"})
        assert r.status_code == 303 and r.headers["location"] == "/desk/login"
        assert '<html lang="en" dir="ltr">' in c.get("/desk/login").text
        evil = c.get("/desk/lang/ar", params={"next": "https://evil.example/"})
        assert evil.headers["location"] == "/desk/login"  # no open redirect


def test_redis_down_keeps_the_text_and_publishes_once_back() -> None:
    redis = RedisServer().start()
    ticker = TickerServer(redis.url).start()
    try:
        editor = add_user(redis.url, "editor", "main")
        with desk_client(ticker.base) as c:
            csrf = login(c, editor)
            page = c.get("/desk/compose?channel=main")
            key = hidden(page.text, "idempotency_key")
            redis.stop()
            text = "خبر عاجل كُتب والقاعدة متوقفة"
            started = time.monotonic()
            r = c.post(
                "/desk/publish",
                data={
                    "csrf": csrf,
                    "idempotency_key": key,
                    "channel": "main",
                    "text": text,
                    "priority": "urgent",
                    "ttl_seconds": "3600",
                    "url": "",
                },
            )
            assert time.monotonic() - started < 3
            assert r.status_code == 503 and r.headers["retry-after"]
            assert f">{text}</textarea>" in r.text
            assert "Redis" in r.text and "أعد المحاولة" in r.text
            assert hidden(r.text, "idempotency_key") == key
            api = c.post(
                "/api/v1/channels/main/items", json={"text": text}, headers={"X-CSRF-Token": csrf}
            )
            assert api.status_code == 503
            # A form that is not this session's own is not echoed, Redis or not.
            with desk_client(ticker.base) as stranger:
                planted = "نص مزروع والقاعدة متوقفة"
                r2 = stranger.post(
                    "/desk/publish",
                    data={"csrf": csrf, "channel": "main", "text": planted, "url": ""},
                )
                assert r2.status_code == 401 and planted not in r2.text
            redis.start()
            again = c.post(
                "/desk/publish",
                data={
                    "csrf": hidden(r.text, "csrf"),
                    "idempotency_key": key,
                    "channel": "main",
                    "text": text,
                    "priority": "urgent",
                    "ttl_seconds": "3600",
                    "url": "",
                },
            )
            assert again.status_code == 303, again.text
            assert [i["text"] for i in items(ticker.base, "main")] == [text]
    finally:
        ticker.stop()
        redis.kill()
