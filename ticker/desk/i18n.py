"""The desk in Arabic, English and French: gettext catalogues read through Babel.

Messages are written in English in the code and the templates (`_()`,
`ngettext()`, `{% trans %}`); `ticker/desk/locales/` holds the template
catalogue (`messages.pot`) and one `.po` file per other language, with every
CLDR plural form (six in Arabic, three in French). The `.po` files are the
only source: each is compiled in memory the first time it is needed, so the
wheel needs no build step (docs/desk.md: how to add or change a string).

The language comes from the `ticker_desk_lang` cookie (the switch in the
header), else from Accept-Language, else Arabic: the desk is Arabic first.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from datetime import datetime
from gettext import NullTranslations
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import Request

LANGS = ("ar", "en", "fr")
DEFAULT_LANG = "ar"
SOURCE_LANG = "en"  # the language of the msgids: it has no catalogue
LANG_COOKIE = "ticker_desk_lang"
DIRECTION = {"ar": "rtl", "en": "ltr", "fr": "ltr"}
# Each language is offered in its own name, whatever the page's language.
LANG_NAMES = {"ar": "العربية", "en": "English", "fr": "Français"}
LOCALE_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated later, where it is shown."""
    return message


class Plural(NamedTuple):
    """A message with plural forms, translated later with its `num` parameter."""

    singular: str
    plural: str


class Contextual(NamedTuple):
    """A message whose English is also another's (a badge and an audit action both
    "corrected"), told apart by its context, as pgettext does."""

    context: str
    message: str


Message = str | Plural | Contextual

# What `pybabel extract` looks for beside its defaults (`_`, `gettext`, `ngettext`,
# `pgettext`, `N_`...): `t(...)`, `Plural(singular, plural)` and `Contextual(context,
# message)`; babel.cfg says where.
EXTRA_KEYWORDS: dict[str, Any] = {"t": None, "Plural": (1, 2), "Contextual": ((1, "c"), 2)}

# Values stored as data (roles, audit actions, field names) and their labels.
LABELS: dict[str, dict[str, Message]] = {
    "role": {"editor": N_("editor"), "admin": N_("admin")},
    "action": {
        "publish": Contextual("audit action", "published"),
        "update": Contextual("audit action", "corrected"),
        "retract": Contextual("audit action", "retracted"),
        "expire": Contextual("audit action", "expired"),
        "channel": Contextual("audit action", "channel"),
        "user": Contextual("audit action", "user"),
        "token": Contextual("audit action", "token"),
    },
    "item_field": {
        "text": N_("text"),
        "url": N_("link"),
        "priority": N_("priority"),
        "expires_at": N_("expires"),
    },
    "channel_field": {
        "id": N_("id"),
        "title": N_("title"),
        "lang": N_("language"),
        "timezone": N_("time zone"),
        "default_ttl_seconds": N_("lifetime (s)"),
    },
}

# The strings the page's script uses, by the short name the script knows them by.
# Placeholders reach the script as `{name}`; plural messages as one string per
# CLDR category, which the script picks with Intl.PluralRules (web/desk/strings.js).
JS_MESSAGES: dict[str, Message] = {
    "js.published": N_("Published."),
    "js.already": N_("This item had already been published; it was not published twice."),
    "js.corrected": N_("Corrected."),
    "js.retracted": N_("Retracted."),
    "js.unavailable": N_(
        "The ticker's database cannot be reached right now; nothing was published. "
        "Your text is kept here: try again in a few seconds."
    ),
    "js.network": N_(
        "The server could not be reached; nothing was published. Your text is kept "
        "here: check the connection and try again."
    ),
    "js.session": N_(
        "Your session has ended; nothing was published. Your text is kept in this "
        "browser: log in again and it will be back."
    ),
    "js.login": Contextual("link", "Log in"),
    "js.forbidden": N_("You are not allowed to do that on this channel."),
    "js.csrf": N_("This page is out of date. Reload it (your text is kept), then try again."),
    "js.gone": N_("This item is no longer live."),
    "js.idempotency": N_(
        "This form was already used to publish a different item. Check the text and publish again."
    ),
    "js.failed": N_("That did not work: %(detail)s"),
    "js.save": N_("Save"),
    "js.cancel": N_("Cancel"),
    "js.confirm_retract": N_("Retract the item"),
    "js.reason_required": N_("Write the reason for the retraction."),
    "js.publishing": N_("Publishing…"),
    "live.left": N_("%(left)s left"),
    "live.corrected": N_("corrected"),
    "live.correct": N_("Correct"),
    "live.retract": N_("Retract"),
    "live.ended": N_("Recently ended (%(n)s)"),
    "live.reason": N_("Reason:"),
    "live.published_at": N_("published %(time)s"),
    "live.retracted_at": N_("retracted %(time)s"),
    "live.expired_at": N_("expired %(time)s"),
    "live.state_connecting": N_("Connecting…"),
    "live.state_live": N_("Live"),
    "live.state_offline": N_("Stream interrupted; reconnecting…"),
    "live.link": N_("link"),
    "live.empty": N_("No live items on your channels."),
    "reach.readers": Plural("%(num)d reader now", "%(num)d readers now"),
    "status.all": N_("all channels"),
    "status.stale": N_("Could not refresh: these figures are from the time shown. Retrying."),
    "status.session": N_("Your session has ended: log in again to see the status."),
    "status.none": N_("No process has reported in the last three heartbeats."),
    "reach.delivered": Plural("delivered to %(num)d stream", "delivered to %(num)d streams"),
    "time.hm": N_("%(h)s h %(m)s min"),
    "time.m": N_("%(m)s min"),
    "time.soon": N_("under a minute"),
    "priority.urgent": N_("Urgent"),
    "priority.normal": N_("Normal"),
    "compose.lifetime_keep": N_("Keep as is"),
    "compose.preview_empty": N_("The item will show here."),
    "field.text": N_("Write a text of 1 to 280 characters."),
    "field.text_long": Plural(
        "The text is %(num)d character over 280.", "The text is %(num)d characters over 280."
    ),
    "field.url": N_("The link must be a full address starting with http:// or https://."),
    "field.priority": N_("Choose urgent or normal."),
    "field.ttl": N_("Choose a lifetime from the list."),
    "field.channel": N_("Choose a channel."),
    "field.reason": N_("Write the reason for the retraction (up to 280 characters)."),
    "retract.reason": N_("Reason for the retraction"),
    "retract.confirm_text": N_(
        "This item will be removed from every page at once. This cannot be undone."
    ),
    "compose.text": N_("Item text"),
    "compose.url": N_("Link (optional)"),
    "compose.priority": N_("Priority"),
    "compose.lifetime": N_("Lifetime"),
}

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@functools.cache
def catalogue(lang: str) -> NullTranslations:
    """The language's translations, compiled from its .po file once per process."""
    if lang == SOURCE_LANG:
        return NullTranslations()  # English plural rule: n != 1, gettext's default
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(po, locale=lang, domain=DOMAIN))
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@functools.cache
def plural_samples(lang: str) -> dict[str, int]:
    """One number per CLDR plural category of the language: the script's forms are
    looked up by category, so each category needs one translated string."""
    rule = Locale.parse(lang).plural_form
    samples: dict[str, int] = {}
    for n in (*range(0, 200), 1_000_000):
        samples.setdefault(rule(n), n)
    return samples


@dataclass(frozen=True)
class Translator:
    lang: str

    @property
    def translations(self) -> NullTranslations:
        return catalogue(self.lang)

    def __call__(self, message: str, /, **params: object) -> str:
        text = self.translations.gettext(message)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, num: int, /, **params: object) -> str:
        return self.translations.ngettext(singular, plural, num) % {"num": num, **params}

    def message(self, message: Message, params: dict[str, object] | None = None) -> str:
        """A message kept as data (a page's notice, a field's error), in this language."""
        params = dict(params or {})
        if isinstance(message, Plural):
            num = params.pop("num")
            assert isinstance(num, int), "a plural message needs an integer `num`"
            return self.ngettext(*message, num, **params)
        if isinstance(message, Contextual):
            text = self.translations.pgettext(*message)
            return text % params if params else text
        return self(message, **params)

    def lifetime(self, hours: int) -> str:
        if hours and hours % 168 == 0:
            return self.ngettext("%(num)d week", "%(num)d weeks", hours // 168)
        if hours >= 72 and hours % 24 == 0:
            return self.ngettext("%(num)d day", "%(num)d days", hours // 24)
        return self.ngettext("%(num)d hour", "%(num)d hours", hours)

    @property
    def dir(self) -> str:
        return DIRECTION[self.lang]

    def js_strings(self) -> dict[str, str | dict[str, str]]:
        return _js_strings(self.lang)


@functools.cache
def _js_strings(lang: str) -> dict[str, str | dict[str, str]]:
    """Every page of a language carries the same block: made once per process."""
    translations = catalogue(lang)
    out: dict[str, str | dict[str, str]] = {}
    for key, message in JS_MESSAGES.items():
        if isinstance(message, Plural):
            out[key] = {
                category: _for_script(translations.ngettext(*message, n))
                for category, n in plural_samples(lang).items()
            }
        elif isinstance(message, Contextual):
            out[key] = _for_script(translations.pgettext(*message))
        else:
            out[key] = _for_script(translations.gettext(message))
    return out


def _for_script(text: str) -> str:
    return _PLACEHOLDER.sub(r"{\1}", text)


def clock(moment: datetime, timezone: str, lang: str, pattern: str = "HH:mm") -> str:
    """A server-rendered time: Latin digits and a 24-hour clock in every language (as
    the widget shows it), in the channel's time zone."""
    return format_datetime(moment, pattern, tzinfo=ZoneInfo(timezone), locale=lang)


def negotiate(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    return from_accept_language(request.headers.get("accept-language", ""))


def from_accept_language(header: str) -> str:
    """The first of our languages in the header's order of preference (q-values)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGS and q > 0:
            ranked.append((-q, index, primary))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LANG


def translator(request: Request) -> Translator:
    return Translator(negotiate(request))
