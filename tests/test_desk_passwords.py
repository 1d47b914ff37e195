"""The rule for new passwords: one rule, called by the desk's
forms and the CLI, with a message naming the part that was broken."""

from __future__ import annotations

import json
import re

import pytest

from tests.desk_support import PASSWORD, add_user, desk_client, login, login_attempt
from tests.support import RedisServer, TickerServer, cli
from ticker.auth import hash_password
from ticker.desk import passwords
from ticker.desk.i18n import LANGS, Plural, Translator
from ticker.desk.passwords import (
    REASONS,
    WeakPassword,
    check_new_password,
    common_passwords,
    password_error,
)
from ticker.desk.templating import desk_templates, i18n_context
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
    message = REASONS[reason][0]  # the desk's message, with the length when it states it
    params = {"num": PASSWORD_MIN} if isinstance(message, Plural) else {}
    assert password_error(password) == (message, params)


def test_the_shipped_list_has_the_1000_most_common() -> None:
    common = common_passwords()
    assert len(common) == 1000
    assert {"123456", "password", "qwerty", "letmein", "iloveyou"} <= common


def test_cli_refuses_weak_passwords_with_the_rule(redis_server: RedisServer) -> None:
    name = "clirule"
    cases = {
        "short pw\n": f"at least {PASSWORD_MIN} characters",
        "            \n": "only spaces",
        "letmeinletmein\n": "1,000 most common",
    }
    for given, says in cases.items():
        r = cli(redis_server.url, "user", "add", name, "--role", "editor", input=given, check=False)
        assert r.returncode == 1 and says in r.stderr, r.stderr
    cli(redis_server.url, "user", "add", name, "--role", "editor", input=PASSWORD + "\n")
    r = cli(redis_server.url, "user", "passwd", name, input="password\n", check=False)
    assert r.returncode == 1 and f"at least {PASSWORD_MIN} characters" in r.stderr


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
        weak = password_error("12345678")
        assert weak is not None  # the Arabic, with the length (test_desk_i18n.py: its forms)
        assert r.status_code == 422 and Translator("ar").message(*weak) in r.text
        r = boss.post(
            f"/desk/admin/users/{editor}",
            data={"csrf": csrf, "action": "password", "password": "qwertyqwerty"},
        )
        assert r.status_code == 422 and "أشهر 1000 كلمة مرور" in r.text
        r = boss.post(
            f"/desk/admin/users/{editor}",
            data={"csrf": csrf, "action": "password", "password": "short"},
        )
        # In the page's notice and under the field, with the length.
        assert r.status_code == 422 and r.text.count(Translator("ar").message(*weak)) == 2
        assert login_attempt(desk_client(server.base), editor, PASSWORD).status_code == 303
    with desk_client(server.base) as c:
        csrf = login(c, editor)
        form = {"csrf": csrf, "current": PASSWORD, "new": " " * 14, "again": " " * 14}
        r = c.post("/desk/password", data=form, headers={"Accept-Language": "en"})
        assert r.status_code == 422
        c.cookies.set("ticker_desk_lang", "en", path="/desk")
        r = c.post("/desk/password", data={**form, "new": "iloveyou", "again": "iloveyou"})
        assert r.status_code == 422 and f"at least {PASSWORD_MIN} characters" in r.text
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


# The length is stated in one place, ticker/model.py: the forms' `minlength`, their labels
# and the messages all take it from there, in every language's plural form.

NEW_PASSWORD_PAGES = ("desk/password.html", "desk/admin_users.html")
LABELS = {
    "desk/password.html": Plural(
        "New password (at least %(num)d character)", "New password (at least %(num)d characters)"
    ),
    "desk/admin_users.html": Plural(
        "Password (at least %(num)d character)", "Password (at least %(num)d characters)"
    ),
}


def _render(page: str, lang: str, errors: dict[str, object] | None = None) -> str:
    """A page asking for a new password, rendered in-process; the admin's page lists
    one other user, so it has both the add and the reset form."""
    return desk_templates.env.get_template(page).render(
        **i18n_context(Translator(lang)),
        asset=lambda name: name,
        here="",
        page="",
        csrf="",
        user={"name": "boss", "role": "admin"},
        users=[{"name": "rami", "role": "editor", "channels": [], "disabled": False}],
        roles=["editor", "admin"],
        channels=[],
        form={},
        message="",
        errors=errors or {},
    )


def _new_password_inputs(html: str) -> list[str]:
    return [
        tag
        for tag in re.findall(r"<input [^>]*>", html)
        if 'type="password"' in tag and 'autocomplete="new-password"' in tag
    ]


def _labels(html: str) -> list[str]:
    """The text of the labels of the new-password fields that state the length."""
    ids = set(re.findall(r' id="([^"]+)"', " ".join(_new_password_inputs(html))))
    return [
        text
        for target, text in re.findall(r'<label for="([^"]+)">([^<]*)</label>', html)
        if target in ids and re.search(r"\d", text)
    ]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", NEW_PASSWORD_PAGES)
def test_the_forms_state_password_min(page: str, lang: str) -> None:
    html = _render(page, lang)
    inputs = _new_password_inputs(html)
    # password.html: new and again; admin_users.html: the reset of each user, the add.
    assert len(inputs) == 2
    assert all(f'minlength="{PASSWORD_MIN}"' in tag for tag in inputs), inputs
    label = Translator(lang).message(LABELS[page], {"num": PASSWORD_MIN})
    assert _labels(html) == [label] and re.findall(r"\d+", label) == [str(PASSWORD_MIN)]


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("ar", "(8 أحرف على الأقل)"),  # 3 to 10: "few"
        ("fr", "(8 caractères au moins)"),
        ("en", "(at least 8 characters)"),
    ],
)
@pytest.mark.parametrize("page", NEW_PASSWORD_PAGES)
def test_the_forms_follow_another_password_min(
    page: str, lang: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(desk_templates.env.globals, "password_min", 8)
    html = _render(page, lang)
    assert all('minlength="8"' in tag for tag in _new_password_inputs(html))
    [label] = _labels(html)
    assert label.endswith(says), label


def test_the_messages_follow_password_min(monkeypatch: pytest.MonkeyPatch) -> None:
    for blank in ("", "   "):
        assert password_error(blank) == (REASONS["blank"][0], {"num": PASSWORD_MIN})
    monkeypatch.setattr(passwords, "PASSWORD_MIN", 8)
    with pytest.raises(WeakPassword) as caught:
        check_new_password("x7" * 3)
    assert str(caught.value) == "a password must have at least 8 characters"  # the CLI's
    weak = password_error("x7" * 3)
    assert weak == (REASONS["short"][0], {"num": 8})
    # Shown under the field, in the page's language.
    html = _render("desk/password.html", "ar", errors={"new": weak})
    assert "كلمة المرور 8 أحرف على الأقل." in html
    assert (
        Translator("fr")
        .message(*weak)
        .startswith("Le mot de passe doit compter au moins 8 caractères.")
    )
