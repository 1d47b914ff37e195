"""Digit groups: runs of digits joined by spaces, signs and separators, kept left to right.

In a right-to-left paragraph each run of digits is its own left-to-right run, and the
spaces between runs are neutral: `+961 1 234 567` shows as `567 234 1 961+`. Items are
stripped of bidi controls at intake (a hostile item could otherwise reorder the page), so
the renderers isolate these groups themselves: the widget, /embed, /live and the feeds
wrap each match of DIGIT_GROUP in a left-to-right isolate (`<bdi dir="ltr">`).

The widget uses the same patterns: the server writes DIGIT_GROUP and AFTER_LATIN into
breaking-ticker.js when it builds it, so there is one rule, in one place.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# Latin, Arabic-Indic and Extended Arabic-Indic (Persian, Urdu) digits.
DIGITS = "0-9\u0660-\u0669\u06f0-\u06f9"
# Currency signs: $, ¢ £ ¤ ¥, ֏, ؋, the Currency Symbols block, ﷼.
CURRENCY = "$\u00a2-\u00a5\u058f\u060b\u20a0-\u20c0\ufdfc"
# What joins two runs of digits into one group: spaces (plain, no-break, narrow no-break),
# hyphens and dashes (87–79), the minus sign, `+ / . : ,`, the Arabic decimal and thousands
# separators, percent signs, and currency signs. `-` comes first in the class, where both
# Python and JavaScript read it as itself.
JOINERS = f"- \u00a0\u202f+\u2010-\u2015\u2212/.:,\u066b\u066c%\u066a{CURRENCY}"
# A group may start with a sign or a currency sign, and end with a percent or currency sign.
LEAD = f"+\u2212{CURRENCY}"
TAIL = f"%\u066a{CURRENCY}"

# Written in the syntax Python's `re` and JavaScript's RegExp (with the `u` flag) share.
DIGIT_GROUP = re.compile(f"[{LEAD}]?[{DIGITS}]+(?:[{JOINERS}]+[{DIGITS}]+)*[{TAIL}]?")
# Text ending in a Latin word, with no right-to-left letter after it. A group that follows
# one is left alone: the bidi algorithm already runs it on with that word («Europa-2»,
# «S&P 500») and, isolated, it would be a neutral that the paragraph's direction pulls
# to the other side of the word.
LATIN = "A-Za-z\u00c0-\u024f"
RTL_LETTERS = "\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc"
AFTER_LATIN = re.compile(f"[{LATIN}][^{LATIN}{RTL_LETTERS}]*$")


def split(text: str) -> list[tuple[str, bool]]:
    """`text` in pieces, each with whether it is a digit group to isolate; joined, they
    are `text`."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in DIGIT_GROUP.finditer(text):
        if AFTER_LATIN.search(text, 0, match.start()):
            continue
        if match.start() > at:
            pieces.append((text[at : match.start()], False))
        pieces.append((match.group(), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def isolate_digits(text: str) -> Markup:
    """`text` escaped for HTML, each digit group in a `<bdi dir="ltr">` (a Jinja filter)."""
    return Markup("").join(
        Markup('<bdi dir="ltr" class="num">{}</bdi>').format(piece) if group else escape(piece)
        for piece, group in split(text)
    )
