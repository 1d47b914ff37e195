"""ticker/model.py on its own: normalisation, every validation rule and its message,
event ids, channels and times. Pure functions, no server: the whole file runs in well
under a second, so a rule can be tried here before the slower HTTP tests."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticker.model import (
    NONCHARACTERS,
    REASON_MAX,
    TEXT_MAX,
    TTL_MAX,
    TTL_MIN,
    URL_MAX,
    Channel,
    FieldError,
    ItemInput,
    ValidationError,
    check_channel_id,
    check_priority,
    check_reason,
    check_text,
    check_timezone,
    check_ttl,
    check_url,
    format_event_id,
    normalise_text,
    parse_event_id,
    parse_rfc3339,
    rfc3339,
)

BIDI_CONTROLS = [chr(cp) for cp in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
LINE_BREAKS = ["\t", "\n", "\r", "\v", "\f", "\u2028", "\u2029", "\x85"]


def refused(check: object, value: object) -> FieldError:
    with pytest.raises(FieldError) as caught:
        check(value)  # type: ignore[operator]
    return caught.value


# Normalisation


def test_text_is_composed_to_nfc() -> None:
    assert normalise_text("e\u0301") == "\u00e9"
    assert normalise_text("\u0627\u0653") == "\u0622"  # alef + madda: آ


def test_surrounding_white_space_is_trimmed_and_runs_become_one_space() -> None:
    assert normalise_text("  عاجل:   خبر  ") == "عاجل: خبر"
    assert normalise_text("\u3000خبر\u00a0") == "خبر"  # Unicode white space at the ends too


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_line_breaks_and_tabs_become_one_space(brk: str) -> None:
    assert normalise_text(f"سطر{brk}آخر") == "سطر آخر"
    assert normalise_text(f"a {brk} b") == "a b"


def test_control_characters_are_dropped() -> None:
    assert normalise_text("a\x00b\x07c\x1bd\x7fe\x80f\x9fg") == "abcdefg"


@pytest.mark.parametrize("control", BIDI_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_bidi_overrides_embeddings_and_isolates_are_dropped(control: str) -> None:
    assert normalise_text(f"{control}خبر{control} 12") == "خبر 12"


def test_directional_marks_and_joiners_are_kept() -> None:
    """RLM/LRM are how editors fix a number's side; ZWNJ is spelling in Persian."""
    text = "\u200fخبر\u200e 12 \u200cمی\u200d"
    assert normalise_text(text) == text


def test_all_66_noncharacters_are_dropped() -> None:
    assert len(NONCHARACTERS) == 66
    assert {0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x10FFFF} <= NONCHARACTERS
    assert normalise_text("".join(map(chr, sorted(NONCHARACTERS))) + "x") == "x"
    assert normalise_text("\ufdcf\ufdf0") == "\ufdcf\ufdf0"  # just outside the block


def test_lone_surrogates_are_dropped_by_normalise() -> None:
    assert normalise_text("a\ud800b\udfff") == "ab"


def test_a_dropped_character_does_not_keep_a_letter_from_its_mark() -> None:
    """NFC comes after the stripping: "e", an override, then a combining acute is "é"."""
    assert normalise_text("e\u202e\u0301") == "\u00e9"
    assert normalise_text("\u1100\x07\u1161") == "\uac00"  # Hangul jamo compose too


# What normalisation treats specially; then a few letters, marks and dropped characters
# alone, since random code points rarely put a mark right after its letter.
ODD = st.sampled_from(
    [*BIDI_CONTROLS, *LINE_BREAKS, " ", "\x00", "\x9f", "\u0301", "\ufffe", "\ud800"]
)
FEW = st.sampled_from(["e", "\u0627", "\u0301", "\u0653", "\u202e", "\x00", " ", "\n"])
ANY_TEXT = st.one_of(
    st.text(st.one_of(st.characters(exclude_categories=[]), ODD), max_size=60),
    st.text(FEW, max_size=12),
)


@given(ANY_TEXT)
def test_normalise_is_idempotent(raw: str) -> None:
    once = normalise_text(raw)
    assert normalise_text(once) == once


@given(ANY_TEXT)
def test_normalised_text_is_clean(raw: str) -> None:
    text = normalise_text(raw)
    assert unicodedata.is_normalized("NFC", text)
    assert text == text.strip() and "  " not in text
    for ch in text:
        assert unicodedata.category(ch) not in ("Cc", "Cs"), repr(ch)
        assert ch not in BIDI_CONTROLS and ord(ch) not in NONCHARACTERS, repr(ch)
    text.encode("utf-8")  # no lone surrogate left: every output can hold it


# Text


def test_text_of_1_and_of_280_characters_is_accepted() -> None:
    assert check_text("x") == "x"
    assert check_text("خ" * TEXT_MAX) == "خ" * TEXT_MAX


def test_text_length_is_counted_after_normalisation() -> None:
    assert check_text(f"  {'e' * TEXT_MAX}\u202e  ") == "e" * TEXT_MAX
    decomposed = "e\u0301" * TEXT_MAX  # 560 code points, 280 once composed
    assert check_text(decomposed) == "\u00e9" * TEXT_MAX


def test_text_over_280_characters_is_refused_saying_how_long_it_is() -> None:
    error = refused(check_text, "خ" * (TEXT_MAX + 1))
    assert (error.field, error.message) == ("text", "must be at most 280 characters, not 281")


@pytest.mark.parametrize("empty", ["", "   ", "\n\t", "\u202e\u2066", "\x00\x07"])
def test_text_empty_after_normalisation_is_refused(empty: str) -> None:
    error = refused(check_text, empty)
    assert error.message == "must not be empty (after removing spaces and control characters)"


@pytest.mark.parametrize("value", [None, 12, ["خبر"], {"text": "x"}, b"x"])
def test_text_must_be_a_string(value: object) -> None:
    assert refused(check_text, value).message == "must be a string"


def test_text_with_a_lone_surrogate_is_refused_not_repaired() -> None:
    error = refused(check_text, "نصف \ud83d رمز")
    assert error.field == "text"
    assert error.message == (
        "contains U+D83D, half of a UTF-16 surrogate pair without its other half: "
        "send the text as valid Unicode"
    )


def test_text_errors_name_the_field_they_were_given() -> None:
    assert refused(lambda v: check_text(v, "title"), "").field == "title"
    assert str(refused(check_text, 3)) == "text: must be a string"


@given(ANY_TEXT)
def test_accepted_text_is_accepted_again_unchanged(raw: str) -> None:
    try:
        text = check_text(raw)
    except FieldError:
        return
    assert 1 <= len(text) <= TEXT_MAX
    assert check_text(text) == text


# Links


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_no_url_is_null(empty: str | None) -> None:
    assert check_url(empty) is None


@pytest.mark.parametrize(
    ("given_url", "normal"),
    [
        ("https://example.com/a?b=1#c", "https://example.com/a?b=1#c"),
        ("  https://example.com/x  ", "https://example.com/x"),
        ("HTTPS://EXAMPLE.com/A", "https://example.com/A"),  # scheme and host, not path
        ("https://example.com/أخبار", "https://example.com/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1"),
        ("https://مثال.إختبار/", "https://xn--mgbh0fb.xn--kgbechtv/"),
        ("http://example.com:8080/", "http://example.com:8080/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("https://e.com/%D8%A3", "https://e.com/%D8%A3"),  # already encoded: kept
        ("https://e.com/100%", "https://e.com/100%25"),  # a bare % is encoded
        ("https://e.com/a[1]", "https://e.com/a%5B1%5D"),
    ],
)
def test_links_become_valid_uris(given_url: str, normal: str) -> None:
    assert check_url(given_url) == normal


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("javascript:alert(1)", "must be an absolute http:// or https:// URL"),
        ("ftp://example.com/", "must be an absolute http:// or https:// URL"),
        ("//example.com/", "must be an absolute http:// or https:// URL"),
        ("example.com", "must be an absolute http:// or https:// URL"),
        ("https:///path", "must be an absolute http:// or https:// URL"),
        ("https://example.com/a b", "must not contain spaces or control characters"),
        ("https://example.com/a\x00b", "must not contain spaces or control characters"),
        ("https://example.com/a\u2028b", "must not contain spaces or control characters"),
        ("https://user:pw@example.com/", "must not contain a user name or password"),
        ("https://user@example.com/", "must not contain a user name or password"),
        ("https://example.com:99999/", "is not a valid URL"),
        ("http://[::1/", "is not a valid URL"),
        ("https://a..b/", "has an invalid host name 'a..b'"),
    ],
)
def test_bad_links_are_refused_saying_why(bad: str, message: str) -> None:
    error = refused(check_url, bad)
    assert (error.field, error.message) == ("url", message)


@pytest.mark.parametrize("value", [12, True, ["https://e.com"], {}])
def test_url_must_be_a_string_or_null(value: object) -> None:
    assert refused(check_url, value).message == "must be a string or null"


def test_url_of_2048_characters_is_accepted_and_longer_is_refused() -> None:
    base = "https://example.com/"
    assert check_url(base + "a" * (URL_MAX - len(base))) is not None
    error = refused(check_url, base + "a" * (URL_MAX - len(base) + 1))
    assert error.message == "must be at most 2048 characters (once encoded)"


def test_url_length_counts_the_encoded_form() -> None:
    # 700 Arabic letters are 700 characters given, 4,200 once percent-encoded.
    assert refused(check_url, "https://e.com/" + "خ" * 700).message.startswith("must be at most")


def test_url_with_a_lone_surrogate_is_refused() -> None:
    error = refused(check_url, "https://e.com/\udc00")
    assert error.field == "url" and error.message.startswith("contains U+DC00")


PATH = st.text(
    st.one_of(st.characters(codec="utf-8", exclude_categories=["Cc", "Zs", "Zl", "Zp"]), ODD),
    max_size=30,
)


@given(st.sampled_from(["https://example.com", "http://مثال.إختبار", "https://e.com:8443"]), PATH)
def test_an_accepted_link_is_ascii_and_accepted_again_unchanged(origin: str, path: str) -> None:
    try:
        normal = check_url(f"{origin}/{path}")
    except FieldError:
        return
    assert normal is not None and normal.isascii()
    assert check_url(normal) == normal


# Priority, lifetime, reason


@pytest.mark.parametrize("good", ["urgent", "normal"])
def test_priority_urgent_or_normal(good: str) -> None:
    assert check_priority(good) == good


@pytest.mark.parametrize("bad", ["URGENT", "high", "", None, 1, ["urgent"]])
def test_other_priorities_are_refused(bad: object) -> None:
    error = refused(check_priority, bad)
    assert (error.field, error.message) == ("priority", 'must be "urgent" or "normal"')


@pytest.mark.parametrize("good", [TTL_MIN, 600, TTL_MAX])
def test_ttl_from_a_minute_to_a_week(good: int) -> None:
    assert check_ttl(good) == good


def test_ttl_written_as_a_whole_float_is_that_whole_number() -> None:
    assert check_ttl(600.0) == 600 and type(check_ttl(600.0)) is int


@pytest.mark.parametrize("bad", [TTL_MIN - 1, TTL_MAX + 1, 0, -600, 1e20])
def test_ttl_out_of_bounds_is_refused(bad: float) -> None:
    error = refused(check_ttl, bad)
    assert (error.field, error.message) == ("ttl_seconds", "must be between 60 and 604800 seconds")


@pytest.mark.parametrize("bad", ["600", 600.5, True, False, None, float("nan"), float("inf")])
def test_ttl_that_is_not_a_whole_number_is_refused(bad: object) -> None:
    assert refused(check_ttl, bad).message == "must be a whole number of seconds"


def test_reason_is_optional_normalised_and_capped() -> None:
    assert check_reason(None) is None
    assert check_reason("  \u202e ") is None  # nothing left: no reason
    assert check_reason("  خطأ\nفي المصدر ") == "خطأ في المصدر"
    assert check_reason("خ" * REASON_MAX) == "خ" * REASON_MAX
    error = refused(check_reason, "خ" * (REASON_MAX + 1))
    assert (error.field, error.message) == ("reason", "must be at most 280 characters")
    assert refused(check_reason, 3).message == "must be a string or null"
    assert refused(check_reason, "\ud800").message.startswith("contains U+D800")


# Channels


@pytest.mark.parametrize("good", ["main", "a", "0", "sport-2", "a" * 32, "9-"])
def test_channel_ids(good: str) -> None:
    assert check_channel_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", "a" * 33, "-a", "Main", "a_b", "a b", "أخبار", "main\n", "a.b"]
)
def test_bad_channel_ids_are_refused(bad: str) -> None:
    error = refused(check_channel_id, bad)
    assert error.field == "id"
    assert error.message == (
        "must be 1 to 32 lower-case letters, digits or dashes, starting with a letter or digit"
    )


@pytest.mark.parametrize("good", ["Asia/Beirut", "UTC", "Europe/Paris", "America/Argentina/Salta"])
def test_known_time_zones(good: str) -> None:
    assert check_timezone(good) == good


@pytest.mark.parametrize("bad", ["", "Mars/Olympus", "Beirut", "../etc/passwd", "Asia/Beirut "])
def test_unknown_time_zones_are_refused_by_name(bad: str) -> None:
    error = refused(check_timezone, bad)
    assert (error.field, error.message) == ("timezone", f"{bad!r} is not a known IANA time zone")


@pytest.mark.parametrize(
    ("lang", "direction"),
    [
        ("ar", "rtl"),
        ("ar-LB", "rtl"),
        ("AR", "rtl"),
        ("fa-IR", "rtl"),
        ("he", "rtl"),
        ("ur", "rtl"),
        ("en", "ltr"),
        ("fr-LB", "ltr"),
        ("arn", "ltr"),  # Mapudungun: a prefix of "ar" is not Arabic
    ],
)
def test_channel_direction_follows_its_language(lang: str, direction: str) -> None:
    assert Channel("c", "C", lang=lang).dir == direction


def test_channel_json_round_trip_and_defaults() -> None:
    channel = Channel("sport", "رياضة", lang="fr", timezone="Europe/Paris", default_ttl_seconds=60)
    assert channel.to_json() == {
        "id": "sport",
        "title": "رياضة",
        "lang": "fr",
        "dir": "ltr",
        "timezone": "Europe/Paris",
        "default_ttl_seconds": 60,
    }
    assert Channel.from_json(channel.to_json()) == channel
    old = Channel.from_json({"id": "main", "title": "الرئيسية"})  # stored before the fields
    assert (old.lang, old.timezone, old.default_ttl_seconds) == ("ar", "Asia/Beirut", 21600)


# A whole request body


def test_publish_body_parsed() -> None:
    inp = ItemInput.parse({"text": " خبر ", "url": None}, partial=False)
    assert inp == ItemInput(text="خبر", url=None, url_given=True)
    assert ItemInput.parse({"text": "x"}, partial=False).url_given is False


def test_every_bad_field_is_listed_at_once() -> None:
    body = {"text": "", "url": "javascript:x", "ttl_seconds": 1, "priority": 3, "colour": "red"}
    with pytest.raises(ValidationError) as caught:
        ItemInput.parse(body, partial=False)
    assert {e.field for e in caught.value.errors} == {
        "text",
        "url",
        "ttl_seconds",
        "priority",
        "colour",
    }
    unknown = next(e for e in caught.value.errors if e.field == "colour")
    assert unknown.message == "is not a known field"


@pytest.mark.parametrize(
    ("body", "partial", "field", "message"),
    [
        ([], False, "body", "must be a JSON object"),
        ("text", True, "body", "must be a JSON object"),
        ({}, False, "text", "is required"),
        ({"url": "https://e.com"}, False, "text", "is required"),
        ({}, True, "body", "give at least one of text, url, priority, ttl_seconds"),
        ({"\ud800": 1}, True, "\ufffd", "is not a known field"),  # shown without the surrogate
    ],
)
def test_body_problems(body: object, partial: bool, field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ItemInput.parse(body, partial=partial)
    assert [(e.field, e.message) for e in caught.value.errors] == [(field, message)]


def test_a_correction_names_only_what_changes() -> None:
    inp = ItemInput.parse({"priority": "normal"}, partial=True)
    assert inp == ItemInput(priority="normal")
    assert inp.text is None and not inp.url_given


# Event ids


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("0-0", (0, 0)), ("1764624000000-7", (1764624000000, 7)), ("01-02", (1, 2))],
)
def test_event_ids_parse(text: str, parsed: tuple[int, int]) -> None:
    assert parse_event_id(text) == parsed


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "123",
        "1-2-3",
        "-1-0",
        "1-",
        "-0",
        "1.5-0",
        "١٢-٣",
        " 1-0",
        "1-0\n",
        "1" * 21 + "-0",
    ],
)
def test_malformed_event_ids_are_refused_saying_the_form(bad: str) -> None:
    with pytest.raises(
        ValueError, match="is not an event id of the form <milliseconds>-<sequence>"
    ):
        parse_event_id(bad)


MAX_PART = 10**20 - 1  # what twenty digits hold; Redis's are 64-bit, well inside


@given(st.integers(0, MAX_PART), st.integers(0, MAX_PART))
def test_parse_of_format_is_the_same_id(ms: int, seq: int) -> None:
    assert parse_event_id(format_event_id((ms, seq))) == (ms, seq)


@given(
    st.tuples(st.integers(0, MAX_PART), st.integers(0, MAX_PART)),
    st.tuples(st.integers(0, MAX_PART), st.integers(0, MAX_PART)),
)
def test_parsed_ids_order_like_redis_ids(a: tuple[int, int], b: tuple[int, int]) -> None:
    """Milliseconds first, then the sequence, as numbers: "10-0" is after "9-5"."""
    x, y = parse_event_id(format_event_id(a)), parse_event_id(format_event_id(b))
    assert (x < y) == (a[0] < b[0] or (a[0] == b[0] and a[1] < b[1]))


# Times


def test_rfc3339_is_utc_to_the_second() -> None:
    beirut = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2026, 11, 29, 23, 31, 8, 999_999, tzinfo=beirut)) == (
        "2026-11-29T21:31:08Z"
    )
    assert parse_rfc3339("2026-11-29T21:31:08Z") == datetime(2026, 11, 29, 21, 31, 8, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1970, 1, 2), timezones=st.just(UTC)))
def test_parse_of_rfc3339_is_the_moment_to_the_second(moment: datetime) -> None:
    assert parse_rfc3339(rfc3339(moment)) == moment.replace(microsecond=0)
