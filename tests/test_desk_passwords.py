"""The rule for new passwords: one rule, called by the desk's
forms and the CLI, with a message naming the part that was broken."""

from __future__ import annotations

import json

import pytest

from tests.desk_support import PASSWORD, add_user, desk_client, login, login_attempt
from tests.support import RedisServer, TickerServer, cli
from ticker.auth import hash_password
from ticker.desk.passwords import (
    REASONS,
    WeakPassword,
    check_new_password,
    common_passwords,
    password_error,
)
from ticker.model import PASSWORD_MIN


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "blank"),
        (" " * 12, "blank"),
        ("\t \u00a0\u3000" * 4, "blank"),
        ("12345678", "short"),
        ("x" * (PASSWORD_MIN - 1), "short"),
        ("كلمة سر", "short"),
        ("password    ", "common"),  # a common one padded to length
        ("Password12345", None),
        ("QWERTYqwerty", "common"),  # "qwerty" repeated, any case
        ("123456123456", "common"),
        ("121212121212", "common"),  # "1212" and "121212" are common
        ("aaaaaaaaaaaa", "common"),  # one character repeated
        ("correct horse 42", None),
        ("x" * (PASSWORD_MIN - 1) + "y", None),
        ("عاجل من بيروت ٢٤", None),
    ],
)
def test_the_rule(password: str, reason: str | None) -> None:
    if reason is None:
        check_new_password(password)
        assert password_error(password) is None
        return
    with pytest.raises(WeakPassword) as caught:
        check_new_password(password)
    assert caught.value.reason == reason
    assert password_error(password) == REASONS[reason][0]  # the desk's message


def test_the_shipped_list_has_the_1000_most_common() -> None:
    common = common_passwords()
    assert len(common) == 1000
    assert {"123456", "password", "qwerty", "letmein", "iloveyou"} <= common


def test_cli_refuses_weak_passwords_with_the_rule(redis_server: RedisServer) -> None:
    name = "clirule"
    cases = {
        "short pw\n": "at least 12 characters",
        "            \n": "only spaces",
        "letmeinletmein\n": "1,000 most common",
    }
    for given, says in cases.items():
        r = cli(redis_server.url, "user", "add", name, "--role", "editor", input=given, check=False)
        assert r.returncode == 1 and says in r.stderr, r.stderr
    cli(redis_server.url, "user", "add", name, "--role", "editor", input=PASSWORD + "\n")
    r = cli(redis_server.url, "user", "passwd", name, input="password\n", check=False)
    assert r.returncode == 1 and "at least 12 characters" in r.stderr


def test_desk_forms_apply_the_rule_and_say_which_part(
    server: TickerServer, redis_server: RedisServer
) -> None:
    admin = add_user(redis_server.url, "admin")
    editor = add_user(redis_server.url, "editor")
    with desk_client(server.base) as boss:
        csrf = login(boss, admin)
        r = boss.post(
            "/desk/admin/users",
            data={"csrf": csrf, "name": "weakling", "role": "editor", "password": "12345678"},
        )
        assert r.status_code == 422 and "12 حرفًا على الأقل" in r.text
        r = boss.post(
            f"/desk/admin/users/{editor}",
            data={"csrf": csrf, "action": "password", "password": "qwertyqwerty"},
        )
        assert r.status_code == 422 and "أشهر 1000 كلمة مرور" in r.text
        assert login_attempt(desk_client(server.base), editor, PASSWORD).status_code == 303
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        form = {"csrf": csrf, "current": PASSWORD, "new": " " * 14, "again": " " * 14}
        r = c.post("/desk/password", data=form, headers={"Accept-Language": "en"})
        assert r.status_code == 422
        c.cookies.set("ticker_desk_lang", "en", path="/desk")
        r = c.post("/desk/password", data={**form, "new": "iloveyou", "again": "iloveyou"})
        assert r.status_code == 422 and "at least 12 characters" in r.text
        good = "a sentence I remember"
        r = c.post("/desk/password", data={**form, "new": good, "again": good})
        assert r.status_code == 303
    with desk_client(server.base) as c:
        login(c, editor, good)


def test_existing_short_passwords_still_log_in(
    server: TickerServer, redis_server: RedisServer
) -> None:
    """Accounts made before the rule keep working; the rule applies when one is set."""
    name = add_user(redis_server.url, "editor")
    r = redis_server.client()
    record = json.loads(r.hget("ticker:users", name) or "{}")
    record["password_hash"] = hash_password("old8char")
    r.hset("ticker:users", name, json.dumps(record))
    with desk_client(server.base) as c:
        login(c, name, "old8char")
