"""The desk's small rules, without a server: safe redirects, CSV cells, and the colour
contrast of the stylesheet (the languages: tests/test_desk_i18n.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ticker.desk.audit import _cell
from ticker.desk.pages import local_path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "web" / "desk"


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
