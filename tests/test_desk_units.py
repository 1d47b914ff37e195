"""The desk's small rules, without a server: every string in both languages, language
negotiation, safe redirects, CSV cells, and the colour contrast of the stylesheet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ticker.desk.audit import _cell
from ticker.desk.i18n import MESSAGES, Translator, from_accept_language
from ticker.desk.pages import local_path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "web" / "templates" / "desk"
SCRIPTS = ROOT / "web" / "desk"
DESK_CODE = ROOT / "ticker" / "desk"

DYNAMIC = {
    "lifetime.": ["1", "3", "6", "12", "24", "48", "72", "168"],
    "action.": ["publish", "update", "retract", "expire", "channel", "user", "token"],
    "role.": ["editor", "admin"],
    "audit.field.": ["text", "url", "priority", "expires_at"],
    "audit.channel_field.": ["id", "title", "lang", "timezone", "default_ttl_seconds"],
    "priority.": ["urgent", "normal"],
    "js.": ["network", "session", "csrf", "forbidden", "gone", "unavailable", "failed"],
    "field.": ["text", "url", "priority", "ttl", "channel", "reason"],
}


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        keys |= set(re.findall(r"""\bt\(\s*['"]([a-z_]+\.[a-z_.0-9]+)['"]""", path.read_text()))
    for path in SCRIPTS.glob("*.js"):
        keys |= set(re.findall(r"""\bt\(\s*'([a-z_]+\.[a-z_.0-9]+)'""", path.read_text()))
    prefixes = "error|done|login|users|tokens|field|channels|compose|password|audit|live"
    for path in DESK_CODE.glob("*.py"):
        keys |= set(re.findall(rf'"((?:{prefixes})\.[a-z_]+)"', path.read_text()))
    for prefix, names in DYNAMIC.items():
        keys |= {prefix + n for n in names}
    # Not keys: prefixes of the dynamic ones, template names.
    return {k for k in keys if not k.endswith((".", ".html"))}


def test_every_string_exists_in_both_languages() -> None:
    missing = sorted(k for k in _used_keys() if k not in MESSAGES)
    assert missing == []
    for key, (ar, en) in MESSAGES.items():
        assert ar.strip() and en.strip(), key
        assert set(re.findall(r"\{(\w+)\}", ar)) == set(re.findall(r"\{(\w+)\}", en)), key


def test_the_script_gets_every_string_it_uses() -> None:
    given = set(Translator("ar").js_strings())
    used: set[str] = set()
    for path in SCRIPTS.glob("*.js"):
        used |= set(re.findall(r"""\bt\(\s*'([a-z_]+\.[a-z_.0-9]+)'""", path.read_text()))
    used |= {"js." + n for n in DYNAMIC["js."]} | {"priority.urgent", "priority.normal"}
    assert sorted(used - given) == []


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("", "ar"),
        ("fr-FR,fr;q=0.9", "ar"),
        ("en-US,en;q=0.9", "en"),
        ("ar-LB,en;q=0.8", "ar"),
        ("fr;q=1, en;q=0.5, ar;q=0.7", "ar"),
        ("en;q=0, ar;q=0.1", "ar"),
        ("EN-gb", "en"),
        ("en;q=abc", "ar"),
    ],
)
def test_language_negotiation(header: str, lang: str) -> None:
    assert from_accept_language(header) == lang


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/desk/audit?day=2026-11-29", "/desk/audit?day=2026-11-29"),
        ("https://evil.example/desk", "/desk/compose"),
        ("//evil.example/desk", "/desk/compose"),
        ("/desk\\..\\x", "/desk/compose"),
        ("/api/v1/channels", "/desk/compose"),
        (None, "/desk/compose"),
    ],
)
def test_only_local_redirects(value: str | None, expected: str) -> None:
    assert local_path(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+3", "'+3"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("عاجل: =", "عاجل: ="),
        ("", ""),
    ],
)
def test_csv_cells_never_become_formulas(value: str, expected: str) -> None:
    assert _cell(value) == expected


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_colours_meet_wcag_aa() -> None:
    css = (SCRIPTS / "desk.css").read_text()
    var = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6});", css))
    white = "#ffffff"
    text_pairs = [
        ("ink", "card"),
        ("ink", "bg"),
        ("muted", "card"),
        ("muted", "bg"),
        ("link", "card"),
        ("urgent", "card"),
        ("urgent-ink", "urgent"),
        ("ok-ink", "ok-bg"),
        ("err-ink", "err-bg"),
        ("info-ink", "info-bg"),
    ]
    for fg, bg in text_pairs:
        assert contrast(var[fg], var[bg]) >= 4.5, (fg, bg)
    assert contrast(white, var["ink"]) >= 4.5  # the header
    # Non-text contrast (SC 1.4.11): field borders and the focus ring.
    assert contrast(var["field"], white) >= 3
    assert contrast(var["focus"], white) >= 3 and contrast(var["focus"], var["bg"]) >= 3
