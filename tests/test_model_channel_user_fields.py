"""The model's rules for channels, accounts and numbers, without a server: what the desk
(and anything else) must check a user's input against (ticker/model.py)."""

from __future__ import annotations

import pytest

from ticker.cli import main
from ticker.model import (
    ROLES,
    TITLE_MAX,
    Channel,
    FieldError,
    ValidationError,
    ascii_digits,
    check_account_name,
    check_lang,
    check_role,
    check_title,
    whole_number,
)


@pytest.mark.parametrize(
    ("raw", "low", "high", "expected"),
    [
        ("10", 1, 100, 10),
        ("0100", 1, 100, 100),
        ("0", 1, 100, None),
        ("101", 1, 100, None),
        ("²", 0, 9, None),  # str.isdigit() says yes, int() raises
        ("١٠", 1, 100, None),  # Arabic-Indic digits: int() would take them
        ("٣", 1, 9, None),
        (" 10", 1, 100, None),
        ("1_0", 1, 100, None),  # int() would take this too
        ("-1", -5, 5, None),
        ("", 0, 9, None),
        ("1234567890", 0, 10**12, None),  # more than 9 digits: refused before int()
    ],
)
def test_a_whole_number_is_ascii_digits_in_range(
    raw: str, low: int, high: int, expected: int | None
) -> None:
    assert whole_number(raw, low, high) == expected


def test_only_0_to_9_are_digits() -> None:
    assert ascii_digits("0123456789")
    assert not any(ascii_digits(s) for s in ("²", "١", "۵", "߁", "", "1.5", "1e3"))


def test_a_title_is_normalised_text_of_1_to_100_characters() -> None:
    assert check_title("  عاجل\u202e  الآن ") == "عاجل الآن"
    assert check_title("x" * TITLE_MAX) == "x" * TITLE_MAX
    for bad in ("", "   ", "\u202e", "x" * (TITLE_MAX + 1)):
        with pytest.raises(FieldError) as caught:
            check_title(bad)
        assert caught.value.field == "title"


@pytest.mark.parametrize("good", ["ar", "en", "fr", "ar-LB", "zh-Hant-TW", "ber"])
def test_language_codes_that_channels_take(good: str) -> None:
    assert check_lang(good) == good


@pytest.mark.parametrize("bad", ["", "a", "AR", "arabic", "ar_LB", "ar-", "ar-L", "ar\n", "ع"])
def test_language_codes_that_channels_refuse(bad: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_lang(bad)
    assert caught.value.field == "lang"


@pytest.mark.parametrize("good", ["rania", "Rania.K", "desk-2", "cms_bot", "a", "x" * 64])
def test_account_names_that_users_and_tokens_take(good: str) -> None:
    assert check_account_name(good) == good


@pytest.mark.parametrize("bad", ["", ".hidden", "-x", "a b", "رانيا", "x" * 65, "a/b", "a\n"])
def test_account_names_that_are_refused(bad: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_account_name(bad)
    assert caught.value.field == "name"


def test_roles() -> None:
    assert ROLES == ("editor", "admin")
    assert [check_role(r) for r in ROLES] == list(ROLES)
    with pytest.raises(FieldError):
        check_role("root")


def test_a_channel_is_parsed_with_every_field_checked() -> None:
    channel = Channel.parse(
        id="sport",
        title="  رياضة ",
        lang="ar",
        timezone="Asia/Beirut",
        default_ttl_seconds=3 * 3600,
    )
    assert channel == Channel("sport", "رياضة", "ar", "Asia/Beirut", 3 * 3600)


def test_a_bad_channel_names_every_bad_field_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        Channel.parse(
            id="Sport!",
            title="",
            lang="Arabic",
            timezone="Mars/Olympus",
            default_ttl_seconds=None,
        )
    assert [e.field for e in caught.value.errors] == [
        "id",
        "title",
        "lang",
        "timezone",
        "default_ttl_seconds",
    ]
    with pytest.raises(ValidationError) as caught:
        Channel.parse(id="ok", title="t", lang="en", timezone="UTC", default_ttl_seconds=59)
    assert [e.field for e in caught.value.errors] == ["default_ttl_seconds"]


# The command line checks with the same rules, before it asks Redis for anything (so these
# run without one: the unreachable URL is never dialled).

UNREACHABLE = ["--redis-url", "redis://127.0.0.1:1"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["channel", "add", "Bad_Id"], "channel id must be 1 to 32 lower-case letters"),
        (["channel", "add", "ok", "--lang", "Arabic"], "channel lang 'Arabic' is not a language"),
        (["channel", "add", "ok", "--title", "x" * 101], "channel title must be 1 to 100"),
        (["channel", "add", "ok", "--ttl", "59"], "channel default_ttl_seconds must be between"),
        (["token", "create", "--name", "a b"], "a token name must be 1 to 64 letters"),
        (["user", "add", ".hidden", "--role", "editor"], "a user name must be 1 to 64 letters"),
    ],
)
def test_the_cli_refuses_what_the_model_refuses(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*UNREACHABLE, *args]) == 1
    assert capsys.readouterr().err.startswith(f"ticker: {says}")


def test_the_cli_names_every_bad_channel_field_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["channel", "add", "Bad_Id", "--lang", "AR", "--timezone", "Mars/Base"]
    assert main([*UNREACHABLE, *args]) == 1
    err = capsys.readouterr().err
    assert "channel id" in err and "channel lang" in err and "channel timezone" in err
