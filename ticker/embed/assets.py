"""The widget's assets: `breaking-ticker.js` built from web/widget/, its stylesheets, the
favicon.

The widget's source is read once, on first use: the stylesheet and the server's own rules
(digit groups, right-to-left languages) are written into its slots, the script minified
and gzipped, and every response after that is bytes from memory with a strong ETag.
"""

from __future__ import annotations

import functools
import json
import re

import rcssmin
from starlette.requests import Request
from starlette.responses import Response

from ticker.assets import WEB_DIR
from ticker.bidi import AFTER_LATIN, DIGIT_GROUP
from ticker.http import IMMUTABLE, PUBLIC_HEADERS, Asset
from ticker.model import RTL_LANGS

WIDGET_DIR = WEB_DIR / "widget"
CSS_SLOT = "'/*@css*/'"  # where breaking-ticker.js takes its stylesheet
DIGITS_SLOT = "'/*@digits*/'"  # where it takes the digit-group rule (ticker/bidi.py)
LATIN_SLOT = "'/*@after-latin*/'"  # and the groups it leaves alone
# The languages it writes right to left (ticker/model.py): the regex stays valid JavaScript
# with the slot in it, and the server's rule is the only list.
RTL_SLOT = "(@rtl)"
SHORT_CACHE = "public, max-age=300"
HEADERS = {
    **PUBLIC_HEADERS,
    "Cross-Origin-Resource-Policy": "cross-origin",  # host pages with COEP may load it too
}
STYLESHEETS = ("breaking-ticker", "embed", "demo")


def serve(asset: Asset, request: Request, *, immutable: bool) -> Response:
    """The widget's assets are public and cross-origin; a versioned URL is kept a year."""
    return asset.response(
        request, cache_control=IMMUTABLE if immutable else SHORT_CACHE, headers=HEADERS
    )


def _css(name: str) -> str:
    return (WIDGET_DIR / f"{name}.css").read_text("utf-8")


def _fill(source: str, slot: str, value: str) -> str:
    if slot not in source:
        raise RuntimeError(f"web/widget/breaking-ticker.js lost its slot {slot}")
    return source.replace(slot, value, 1)


def rtl_alternatives() -> str:
    """RTL_LANGS as the widget's regex group: `(ar|ckb|…)`, matched before a subtag."""
    if not all(re.fullmatch("[a-z]+", lang) for lang in RTL_LANGS):
        raise RuntimeError("RTL_LANGS holds a language that is not a lowercase primary subtag")
    return "(" + "|".join(sorted(RTL_LANGS)) + ")"


def build_widget() -> Asset:
    """breaking-ticker.js with its stylesheet and the server's rules inlined, minified."""
    source = (WIDGET_DIR / "breaking-ticker.js").read_text("utf-8")
    source = _fill(source, CSS_SLOT, json.dumps(rcssmin.cssmin(_css("breaking-ticker"))))
    source = _fill(source, DIGITS_SLOT, json.dumps(DIGIT_GROUP.pattern))
    source = _fill(source, LATIN_SLOT, json.dumps(AFTER_LATIN.pattern))
    source = _fill(source, RTL_SLOT, rtl_alternatives())
    return Asset.script(source)


# Built on first use, not at import: importing the package (`ticker --version`, the CLI's
# other commands) must not read or minify assets.
@functools.cache
def widget() -> Asset:
    return build_widget()


@functools.cache
def styles() -> dict[str, Asset]:
    return {name: Asset.stylesheet(_css(name)) for name in STYLESHEETS}


@functools.cache
def favicon() -> Asset:
    return Asset.of((WIDGET_DIR / "favicon.ico").read_bytes(), "image/vnd.microsoft.icon")


def widget_url() -> str:
    return f"/widget-{widget().version}.js"


def style_url(name: str) -> str:
    return f"/widget/{name}.css?v={styles()[name].version}"
