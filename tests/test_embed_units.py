"""ticker/embed/ in memory: the widget's build, its options and the box drawn on the
server. The same over HTTP is in test_widget_http.py."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from ticker.embed.assets import RTL_SLOT, build_widget, rtl_alternatives
from ticker.embed.options import Options, parse_options
from ticker.embed.render import clock
from ticker.model import RTL_LANGS, Channel, FieldError, check_lang
from ticker.problems import Problem

# The widget's regex as the built script has it: `RTL=/^(ar|ckb|…)\b/i`.
WIDGET_RTL = re.compile(rb"RTL=/\^\(([a-z|]+)\)\\b/i")


def widget_rtl_langs(script: bytes) -> set[str]:
    found = WIDGET_RTL.search(script)
    assert found is not None, "the built widget has no RTL regex"
    return set(found.group(1).decode().split("|"))


def test_the_built_widget_writes_right_to_left_exactly_the_server_s_languages() -> None:
    script = build_widget().body
    assert RTL_SLOT.encode() not in script
    assert widget_rtl_langs(script) == RTL_LANGS


@pytest.mark.parametrize(
    "lang", ["ar", "ar-LB", "AR", "ckb", "ckb-IQ", "ku", "fa-IR", "ug", "en", "fr-LB", "arn"]
)
def test_the_widget_and_the_server_give_a_language_the_same_direction(lang: str) -> None:
    # JavaScript's \b on ASCII is Python's with re.ASCII.
    widget = re.compile(rf"^{rtl_alternatives()}\b", re.IGNORECASE | re.ASCII)
    widget_dir = "rtl" if widget.search(lang) else "ltr"
    assert widget_dir == Channel("c", "C", lang=lang).dir


LANGS = ["ar", "en", "fr", "ar-LB", "zh-Hant-TW", "ber", "", "a", "AR", "arabic", "ar_LB"]
LANGS += ["ar-", "ar-L", "ar\n", "ع", "en-x-private", "ar-LB-a-b-c"]


@pytest.mark.parametrize("lang", LANGS)
def test_a_box_takes_the_languages_a_channel_takes(lang: str) -> None:
    try:
        check_lang(lang)
        channel_takes = True
    except FieldError:
        channel_takes = False
    try:
        box_takes = parse_options({"lang": lang}).lang == lang
    except Problem as problem:
        assert problem.status == 400
        box_takes = False
    assert box_takes is channel_takes


def test_bad_options_are_one_400_naming_each() -> None:
    with pytest.raises(Problem) as caught:
        parse_options({"mode": "ticker", "lang": "AR", "label": " ", "limit": "0", "x": "y"})
    assert caught.value.status == 400
    fields = [e.field for e in caught.value.errors or []]
    assert fields == ["mode", "limit", "lang", "label"]


def test_options_keep_what_they_are_given() -> None:
    options = parse_options({"mode": "marquee", "hour-cycle": "h12", "limit": "7", "lang": "en"})
    assert options == Options(mode="marquee", hour_cycle="h12", limit=7, lang="en")
    assert options.attributes()["hour-cycle"] == "h12" and "dir" not in options.attributes()


@pytest.mark.parametrize(
    ("moment", "arabic", "options", "expected"),
    [
        ("2026-03-01T21:05:00Z", True, Options(), "23:05"),
        ("2026-03-01T21:05:00Z", True, Options(hour_cycle="h12"), "11:05 م"),
        ("2026-03-01T07:05:00Z", False, Options(hour_cycle="h12"), "09:05 AM"),
        ("2026-03-01T22:00:00Z", False, Options(hour_cycle="h12"), "12:00 AM"),
        ("2026-03-01T21:05:00Z", True, Options(digits="arab"), "٢٣:٠٥"),
    ],
)
def test_the_server_s_clock_writes_what_intl_writes(
    moment: str, arabic: bool, options: Options, expected: str
) -> None:
    assert clock(moment, ZoneInfo("Asia/Beirut"), arabic, options) == expected
