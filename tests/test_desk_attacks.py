"""The security review's attacks on the desk, as a table, against a real server and
Redis: those it found harmless stay harmless, and finding 9 (a cross-site
logout, a planted draft) is closed.

Browsers' `Sec-Fetch-Site` and `Origin` headers are sent by hand here, as Chromium
sends them; tests/test_desk_browser_attacks.py repeats the cross-site attacks in
Chromium itself.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

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
)
from tests.support import RedisServer, TickerServer, cli
from ticker.auth.sessions import COOKIE

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>\"'"
FORMULA = '=HYPERLINK("https://evil.example","x")'
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
SAME_SITE = {"Sec-Fetch-Site": "same-site", "Origin": "https://other.news.example"}
FOREIGN_ORIGIN = {"Origin": "https://evil.example"}  # a browser without Sec-Fetch-Site
NULL_ORIGIN = {"Origin": "null"}  # a sandboxed frame or a data: page


@dataclass
class Desk:
    server: TickerServer
    redis: RedisServer
    channel: str
    editor: str
    admin: str
    token: str

    def client(self) -> httpx.Client:
        return desk_client(self.server.base)

    def items(self, channel: str | None = None) -> list[dict]:
        url = f"{self.server.base}/api/v1/channels/{channel or self.channel}/items"
        return httpx.get(url).json()["items"]

    def publish(self, text: str, **extra: str) -> str:
        r = httpx.post(
            f"{self.server.base}/api/v1/channels/{self.channel}/items",
            json={"text": text, **extra},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


@pytest.fixture
def desk(redis_server: RedisServer, server: TickerServer, channel: str, token: str) -> Desk:
    return Desk(
        server,
        redis_server,
        channel,
        add_user(redis_server.url, "editor", channel),
        add_user(redis_server.url, "admin"),
        token,
    )


def form_post(
    c: httpx.Client, path: str, data: dict[str, str], headers: dict[str, str] | None = None
) -> httpx.Response:
    return c.post(path, data=data, headers=headers)


# XSS: every place the desk shows text a client wrote.


def xss_in_live_list_edit_and_retract_pages(d: Desk) -> None:
    item = d.publish(XSS)
    with d.client() as c:
        login(c, d.editor)
        for path in (
            f"/desk/compose?channel={d.channel}",
            f"/desk/items/{d.channel}/{item}/edit",
            f"/desk/items/{d.channel}/{item}/retract",
        ):
            page = c.get(path).text
            assert "<img src=x" not in page and "<script>alert" not in page, path
            assert "&lt;img src=x onerror=alert(1)&gt;" in page, path


def xss_in_audit_page_and_csv(d: Desk) -> None:
    item = d.publish(XSS)
    with d.client() as c:
        csrf = login(c, d.editor)
        r = form_post(
            c, f"/desk/items/{d.channel}/{item}/retract", {"csrf": csrf, "reason": FORMULA + XSS}
        )
        assert r.status_code == 303
    with d.client() as boss:
        login(boss, d.admin)
        page = boss.get("/desk/audit", params={"channel": d.channel}).text
        assert "<img src=x" not in page and "&lt;img src=x" in page
        body = boss.get("/desk/audit.csv", params={"channel": d.channel}).text.lstrip("\ufeff")
        rows = list(csv.DictReader(io.StringIO(body)))
        reasons = [row["reason"] for row in rows if row["reason"]]
        assert reasons and all(r.startswith("'=") for r in reasons)  # never a formula


def xss_in_channel_title_set_by_an_admin(d: Desk) -> None:
    with d.client() as boss:
        csrf = login(boss, d.admin)
        r = form_post(
            boss,
            f"/desk/admin/channels/{d.channel}",
            {
                "csrf": csrf,
                "title": XSS,
                "lang": "ar",
                "timezone": "Asia/Beirut",
                "ttl_hours": "6",
            },
        )
        assert r.status_code == 303
    with d.client() as c:
        login(c, d.editor)
        page = c.get(f"/desk/compose?channel={d.channel}").text
        assert "<img src=x" not in page and "<script>alert" not in page


# CSRF: forms and the desk's API calls, from other sites' pages and without tokens.


def csrf_form_without_or_with_a_wrong_token(d: Desk) -> None:
    with d.client() as c:
        login(c, d.editor)
        base = {"channel": d.channel, "text": "forged", "priority": "urgent", "ttl_seconds": "3600"}
        assert form_post(c, "/desk/publish", base).status_code == 403
        assert form_post(c, "/desk/publish", {**base, "csrf": "guess"}).status_code == 403
    assert d.items() == []


@pytest.mark.parametrize("headers", [CROSS_SITE, SAME_SITE, FOREIGN_ORIGIN, NULL_ORIGIN])
def test_other_sites_pages_are_refused_even_with_the_token(
    desk: Desk, headers: dict[str, str]
) -> None:
    """The second layer: the right token does not help a request from another site."""
    with desk.client() as c:
        csrf = login(c, desk.editor)
        key = hidden(c.get(f"/desk/compose?channel={desk.channel}").text, "idempotency_key")
        form = {
            "csrf": csrf,
            "channel": desk.channel,
            "text": "من موقع آخر",
            "priority": "urgent",
            "ttl_seconds": "3600",
            "idempotency_key": key,
        }
        r = form_post(c, "/desk/publish", form, headers)
        assert r.status_code == 403 and "صفحة موقع آخر" in r.text  # says why
        api = c.post(
            f"/api/v1/channels/{desk.channel}/items",
            json={"text": "من موقع آخر"},
            headers={"X-CSRF-Token": csrf, **headers},
        )
        assert api.status_code == 403
        assert api.headers["content-type"] == "application/problem+json"
        assert form_post(c, "/desk/password", {"csrf": csrf}, headers).status_code == 403
        assert desk.items() == []
        # The same requests from the desk's own page go through.
        own = {"Sec-Fetch-Site": "same-origin", "Origin": desk.server.base}
        assert form_post(c, "/desk/publish", form, own).status_code == 303
        api = c.post(
            f"/api/v1/channels/{desk.channel}/items",
            json={"text": "من المكتب"},
            headers={"X-CSRF-Token": csrf, "Origin": desk.server.base},
        )
        assert api.status_code == 201
    assert len(desk.items()) == 2


def csrf_api_call_with_the_cookie_but_no_token(d: Desk) -> None:
    with d.client() as c:
        login(c, d.editor)
        r = c.post(f"/api/v1/channels/{d.channel}/items", json={"text": "forged"})
        assert r.status_code == 403
    assert d.items() == []


def csrf_login_from_another_site(d: Desk) -> None:
    """Login CSRF (logging the victim into the attacker's account) is refused too."""
    with d.client() as c:
        form = c.get("/desk/login")
        r = c.post(
            "/desk/login",
            data={"csrf": hidden(form.text, "csrf"), "name": d.editor, "password": PASSWORD},
            headers=CROSS_SITE,
        )
        assert r.status_code == 403 and COOKIE not in c.cookies


# Privilege escalation: editor to admin, and across channels.


def escalation_editor_to_admin(d: Desk) -> None:
    with d.client() as c:
        csrf = login(c, d.editor)
        for path in ("/desk/admin/users", "/desk/admin/channels", "/desk/admin/tokens"):
            assert c.get(path).status_code == 403
        attempts = [
            ("/desk/admin/users", {"name": "sneaky", "role": "admin", "password": PASSWORD}),
            (f"/desk/admin/users/{d.editor}", {"action": "save", "role": "admin"}),
            (f"/desk/admin/users/{d.admin}", {"action": "password", "password": PASSWORD + "!"}),
            ("/desk/admin/tokens", {"name": "sneaky"}),
            ("/desk/admin/channels", {"id": "sneaky", "title": "x", "lang": "ar"}),
        ]
        for path, data in attempts:
            assert form_post(c, path, {"csrf": csrf, **data}).status_code == 403, path
    listing = cli(d.redis.url, "user", "list").stdout
    assert "sneaky" not in listing and f"{d.editor}\teditor" in listing
    with d.client() as boss:  # the admin's password is unchanged
        login(boss, d.admin)


def escalation_across_channels(d: Desk) -> None:
    other = f"{d.channel}-other"
    cli(d.redis.url, "channel", "add", other)
    theirs = httpx.post(
        f"{d.server.base}/api/v1/channels/{other}/items",
        json={"text": "ليس للمحرر"},
        headers={"Authorization": f"Bearer {d.token}"},
    ).json()["id"]
    with d.client() as c:
        csrf = login(c, d.editor)
        api = {"X-CSRF-Token": csrf}
        url = f"/api/v1/channels/{other}/items"
        assert c.post(url, json={"text": "x"}, headers=api).status_code == 403
        assert c.patch(f"{url}/{theirs}", json={"text": "x"}, headers=api).status_code == 403
        assert c.delete(f"{url}/{theirs}", headers=api).status_code == 403
        item = f"/desk/items/{other}/{theirs}"
        assert form_post(c, f"{item}/edit", {"csrf": csrf, "text": "x"}).status_code == 403
        assert form_post(c, f"{item}/retract", {"csrf": csrf, "reason": "x"}).status_code == 403
    assert [i["text"] for i in d.items(other)] == ["ليس للمحرر"]


# Sessions: fixation, replay after logout, tampering.


def session_fixation(d: Desk) -> None:
    with d.client() as c:
        c.cookies.set(COOKIE, "planted.by.attacker", domain="127.0.0.1")
        login(c, d.editor)
        assert c.cookies.get(COOKIE, domain="127.0.0.1") != "planted.by.attacker"
    with d.client() as a, d.client() as b:
        login(a, d.editor)
        first = a.cookies[COOKIE]
        login(b, d.editor)  # each login is a new session id
        assert b.cookies[COOKIE] != first


def session_replay_after_logout(d: Desk) -> None:
    with d.client() as c:
        csrf = login(c, d.editor)
        stolen = c.cookies[COOKIE]
        assert c.post("/desk/logout", data={"csrf": csrf}).status_code == 303
    with d.client() as thief:
        thief.cookies.set(COOKIE, stolen)
        assert thief.get("/desk/compose").status_code == 303
        r = thief.post(
            f"/api/v1/channels/{d.channel}/items",
            json={"text": "replay"},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 401
    assert d.items() == []


def session_tampering(d: Desk) -> None:
    with d.client() as c:
        login(c, d.editor)
        good = c.cookies[COOKIE]
        session_id, _, rest = good.partition(".")
    forged = [
        session_id[:-1] + ("A" if session_id[-1] != "A" else "B") + "." + rest,  # another id
        good[:-2] + ("xx" if not good.endswith("xx") else "yy"),  # a broken signature
        session_id,  # no signature at all
    ]
    for value in forged:
        with d.client() as thief:
            thief.cookies.set(COOKIE, value)
            assert thief.get("/desk/compose").status_code == 303, value


def session_of_a_disabled_user(d: Desk) -> None:
    with d.client() as c:
        login(c, d.editor)
        cli(d.redis.url, "user", "disable", d.editor)
        assert c.get("/desk/compose").status_code == 303
        assert d.redis.client().get(session_key(c)) is None


# Finding 9: a cross-site logout and a planted draft.


def cross_site_logout_leaves_the_session_alive(d: Desk) -> None:
    with d.client() as c:
        login(c, d.editor)
        for headers in (CROSS_SITE, SAME_SITE, FOREIGN_ORIGIN, NULL_ORIGIN):
            r = c.post("/desk/logout", headers=headers)
            assert r.status_code == 403 and "set-cookie" not in r.headers
        # Headers or none, without the token and without a same-origin header: refused.
        r = c.post("/desk/logout")
        assert r.status_code == 403 and "set-cookie" not in r.headers
        assert c.get("/desk/compose").status_code == 200  # still logged in
        # The browser's cookie never reaches a cross-site POST (SameSite=Lax): clearing
        # it would still log the editor out, so a cookie-less post clears nothing either.
        with d.client() as no_cookie:
            r = no_cookie.post("/desk/logout", headers=CROSS_SITE)
            assert r.status_code == 403 and "set-cookie" not in r.headers


def logout_from_the_desk_itself(d: Desk) -> None:
    with d.client() as c:  # with the token, and no header (a script, an old browser)
        csrf = login(c, d.editor)
        assert c.post("/desk/logout", data={"csrf": csrf}).status_code == 303
        assert c.get("/desk/compose").status_code == 303
    with d.client() as c:  # a same-origin browser, from a page whose token went stale
        login(c, d.editor)
        r = c.post("/desk/logout", headers={"Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 303 and COOKIE not in c.cookies
        assert c.get("/desk/compose").status_code == 303
    with d.client() as c:
        login(c, d.editor)
        r = c.post("/desk/logout", headers={"Origin": d.server.base})
        assert r.status_code == 303 and c.get("/desk/compose").status_code == 303


PLANT = {
    "channel": "",
    "text": "عاجل: خبر مزروع من موقع آخر",
    "url": "https://evil.example/planted",
    "priority": "urgent",
    "ttl_seconds": "3600",
    "idempotency_key": "planted-key",
}


def assert_nothing_planted(html: str) -> None:
    assert PLANT["text"] not in html and "evil.example" not in html
    assert 'name="draft"' not in html


def planted_draft_without_a_session_is_not_echoed(d: Desk) -> None:
    plant = {**PLANT, "channel": d.channel}
    with d.client() as victim:
        # No headers (a script) and no session: the login page, without the text.
        r = form_post(victim, "/desk/publish", plant)
        assert r.status_code == 401
        assert_nothing_planted(r.text)
        # From another site's page: refused before anything is read.
        r = form_post(victim, "/desk/publish", plant, CROSS_SITE)
        assert r.status_code == 403
        assert_nothing_planted(r.text)
        # A dead session's cookie with a token that is not that session's: no text.
        csrf = login(victim, d.editor)
        d.redis.client().delete(session_key(victim))
        r = form_post(victim, "/desk/publish", {**plant, "csrf": csrf[:-2] + "zz"})
        assert r.status_code == 401
        assert_nothing_planted(r.text)
        # And nothing comes back after logging in.
        login(victim, d.editor)
        assert_nothing_planted(victim.get(f"/desk/compose?channel={d.channel}").text)
    assert d.items() == []


def planted_draft_through_the_login_form_is_ignored(d: Desk) -> None:
    with d.client() as victim:
        form = victim.get("/desk/login")
        r = victim.post(
            "/desk/login",
            data={
                "csrf": hidden(form.text, "csrf"),
                "name": d.editor,
                "password": PASSWORD,
                "draft": "eyJ0ZXh0IjoicGxhbnRlZCJ9.forged.signature",
                "draft_text": PLANT["text"],
                "draft_url": PLANT["url"],
            },
        )
        assert r.status_code == 303
        assert_nothing_planted(victim.get(r.headers["location"]).text)


def own_draft_survives_an_ended_session(d: Desk) -> None:
    """The editor's own text, posted from the desk's page after the session ended,
    still comes back after logging in (the token proves the form is theirs)."""
    text = "نص المحرر بعد انتهاء الجلسة"
    with d.client() as c:
        csrf = login(c, d.editor)
        d.redis.client().delete(session_key(c))
        own = {**PLANT, "channel": d.channel, "text": text, "url": "", "csrf": csrf}
        r = form_post(c, "/desk/publish", own, {"Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 401 and text in r.text
        r = c.post(
            "/desk/login",
            data={
                "csrf": hidden(r.text, "csrf"),
                "name": d.editor,
                "password": PASSWORD,
                "draft": hidden(r.text, "draft"),
            },
        )
        assert r.status_code == 303
        assert f">{text}</textarea>" in c.get(r.headers["location"]).text
    assert d.items() == []


ATTACKS: dict[str, Callable[[Desk], None]] = {
    f.__name__: f
    for f in (
        xss_in_live_list_edit_and_retract_pages,
        xss_in_audit_page_and_csv,
        xss_in_channel_title_set_by_an_admin,
        csrf_form_without_or_with_a_wrong_token,
        csrf_api_call_with_the_cookie_but_no_token,
        csrf_login_from_another_site,
        escalation_editor_to_admin,
        escalation_across_channels,
        session_fixation,
        session_replay_after_logout,
        session_tampering,
        session_of_a_disabled_user,
        cross_site_logout_leaves_the_session_alive,
        logout_from_the_desk_itself,
        planted_draft_without_a_session_is_not_echoed,
        planted_draft_through_the_login_form_is_ignored,
        own_draft_survives_an_ended_session,
    )
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack(desk: Desk, attack: str) -> None:
    ATTACKS[attack](desk)


def test_csrf_check_is_not_fooled_by_the_token_of_the_login_form(desk: Desk) -> None:
    with desk.client() as c:
        login_csrf = hidden(c.get("/desk/login").text, "csrf")
        login(c, desk.editor)
        r = form_post(
            c,
            "/desk/publish",
            {"csrf": login_csrf, "channel": desk.channel, "text": "x", "priority": "urgent"},
        )
        assert r.status_code == 403
        assert csrf_of(c.get("/desk/compose").text) != login_csrf
    with desk.client() as again:
        assert login_attempt(again, desk.editor, PASSWORD).status_code == 303
