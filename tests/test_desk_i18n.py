"""The desk's languages: the gettext catalogues are complete (every message, every CLDR
plural form, in every language), match the code, and are used as Babel and CLDR say;
language negotiation; server-rendered times."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from markupsafe import Markup

from ticker.desk.i18n import (
    EXTRA_KEYWORDS,
    JS_MESSAGES,
    LANGS,
    LOCALE_DIR,
    SOURCE_LANG,
    Plural,
    Translator,
    clock,
    from_accept_language,
)
from ticker.desk.templating import desk_templates, i18n_context

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "web" / "desk"
TRANSLATED = [lang for lang in LANGS if lang != SOURCE_LANG]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _catalogue(lang: str) -> Catalog:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=lang)


def _template() -> Catalog:
    with (LOCALE_DIR / "messages.pot").open("rb") as pot:
        return read_po(pot)


Key = tuple[str | None, str | tuple[str, ...]]  # (context, message)


def _extracted() -> set[Key]:
    """What `pybabel extract -F babel.cfg` finds in the code and templates today."""
    keywords = {**DEFAULT_KEYWORDS, **EXTRA_KEYWORDS}
    found: set[Key] = set()
    for folder, method in (("ticker/desk", "python"), ("web/templates/desk", "jinja2")):
        pattern = "**.py" if method == "python" else "**.html"
        for _, _, message, _, context in extract_from_dir(
            ROOT / folder,
            method_map=[(pattern, method)],
            options_map={pattern: {"extensions": "jinja2.ext.i18n"}},
            keywords=keywords,
        ):
            found.add((context, message))
    return found


def _texts(value: object) -> tuple[str, ...]:
    """A message's id or translation as its forms: one, or one per plural form."""
    forms = value if isinstance(value, tuple | list) else (value,)
    return tuple(str(form or "") for form in forms)


def _ids(catalogue: Catalog) -> set[Key]:
    return {(m.context, m.id if isinstance(m.id, str) else _texts(m.id)) for m in catalogue if m.id}


def test_the_template_catalogue_is_what_the_code_uses() -> None:
    # After changing a message: `pybabel extract` then `pybabel update` (docs/desk.md).
    assert _extracted() == _ids(_template())


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_has_every_plural_form_and_no_empty_one(lang: str) -> None:
    catalogue = _catalogue(lang)
    categories = len(Locale.parse(lang).plural_form.tags) + 1  # and "other"
    assert catalogue.num_plurals == categories  # ar: 6 (zero one two few many other), fr: 3
    assert _ids(catalogue) == _ids(_template())
    for message in catalogue:
        if not message.id:
            continue
        plural = isinstance(message.id, tuple | list)
        ids, forms = _texts(message.id), _texts(message.string)
        assert not message.fuzzy, ids
        assert len(forms) == (categories if plural else 1), ids
        names = set(PLACEHOLDER.findall(" ".join(ids)))
        for form in forms:
            assert form.strip(), ids
            # A translation names only the parameters its message has ("ساعتان": none).
            assert set(PLACEHOLDER.findall(form)) <= names, form
        if not plural:
            assert set(PLACEHOLDER.findall(forms[0])) == names, ids
    assert [error for _, errors in catalogue.check() for error in errors] == []


@pytest.mark.parametrize(
    ("lang", "counts"),
    [
        (
            "ar",
            {
                0: "0 ساعة",
                1: "ساعة واحدة",
                2: "ساعتان",
                3: "3 ساعات",
                10: "10 ساعات",
                11: "11 ساعة",
                99: "99 ساعة",
                100: "100 ساعة",
                103: "103 ساعات",
            },
        ),
        ("fr", {0: "0 heure", 1: "1 heure", 2: "2 heures", 24: "24 heures"}),
        ("en", {0: "0 hours", 1: "1 hour", 2: "2 hours"}),
    ],
)
def test_hours_follow_the_languages_plural_rules(lang: str, counts: dict[int, str]) -> None:
    t = Translator(lang)
    assert {n: t.lifetime(n) for n in counts} == counts


def test_lifetimes_in_days_and_weeks() -> None:
    ar, fr = Translator("ar"), Translator("fr")
    assert [ar.lifetime(h) for h in (48, 72, 168, 336)] == [
        "48 ساعة",
        "3 أيام",
        "أسبوع واحد",
        "أسبوعان",
    ]
    assert [fr.lifetime(h) for h in (72, 168)] == ["3 jours", "1 semaine"]


def test_a_plural_message_kept_as_data_uses_its_count() -> None:
    message = Plural(
        "The text is %(num)d character over 280.", "The text is %(num)d characters over 280."
    )
    ar = Translator("ar")
    assert ar.message(message, {"num": 1}) == "النص أطول من 280 حرفًا بحرف واحد."
    assert ar.message(message, {"num": 2}) == "النص أطول من 280 حرفًا بحرفين."
    assert ar.message(message, {"num": 5}) == "النص أطول من 280 حرفًا بـ 5 أحرف."
    assert Translator("en").message(message, {"num": 1}).endswith("1 character over 280.")


def test_the_password_length_takes_each_languages_plural_form() -> None:
    # Whatever PASSWORD_MIN is, the label says it in the right form (12 is Arabic's "many").
    label = Plural(
        "Password (at least %(num)d character)", "Password (at least %(num)d characters)"
    )
    ar, fr = Translator("ar"), Translator("fr")
    assert [ar.message(label, {"num": n}) for n in (1, 2, 8, 12, 100)] == [
        "كلمة المرور (حرف واحد على الأقل)",
        "كلمة المرور (حرفان على الأقل)",
        "كلمة المرور (8 أحرف على الأقل)",
        "كلمة المرور (12 حرفًا على الأقل)",
        "كلمة المرور (100 حرف على الأقل)",
    ]
    assert [fr.message(label, {"num": n}) for n in (1, 12)] == [
        "Mot de passe (1 caractère au moins)",
        "Mot de passe (12 caractères au moins)",
    ]


@pytest.mark.parametrize("lang", LANGS)
def test_the_script_gets_one_string_per_plural_category(lang: str) -> None:
    strings = Translator(lang).js_strings()
    forms = strings["field.text_long"]
    assert isinstance(forms, dict)
    assert set(forms) == set(Locale.parse(lang).plural_form.tags) | {"other"}
    # Placeholders reach the script in its own `{name}` form.
    assert "{num}" in forms["other"] and "%(" not in str(strings)


def test_the_script_gets_every_string_it_uses() -> None:
    used: set[str] = set()
    for path in SCRIPTS.glob("*.js"):
        used |= set(re.findall(r"""\bt\(\s*'([a-z_]+\.[a-z_.0-9]+)'""", path.read_text()))
        # Keys built from data: `priority.${item.priority}`, `js.${key}`.
        used |= {f"priority.{p}" for p in ("urgent", "normal")}
    for name in re.findall(r"'(\w+)'", (SCRIPTS / "api.js").read_text()):
        if f"js.{name}" in JS_MESSAGES:
            used.add(f"js.{name}")
    assert sorted(used - set(JS_MESSAGES)) == []


def test_french_is_complete_on_a_rendered_page() -> None:
    context = i18n_context(Translator("fr"))
    html = desk_templates.env.get_template("desk/error.html").render(
        **context,
        status=404,
        message="Nothing here.",
        params={},
        asset=lambda name: name,
        here="",
        page="",
        user=None,
        csrf="",
    )
    assert '<html lang="fr" dir="ltr">' in html and "Il n’y a rien ici." in html
    assert "Retour au desk" in html
    # The other two languages are offered, each in its own name.
    assert 'hreflang="ar">العربية</a>' in html and 'hreflang="en">English</a>' in html


def test_template_translations_escape_their_parameters() -> None:
    template = desk_templates.env.from_string(
        "{{ _('Signed in as %(name)s', name=who) }}|"
        "{% trans n=count %}{{ n }} item{% pluralize %}{{ n }} items{% endtrans %}"
    )
    context = i18n_context(Translator("fr"))
    html = template.render(**context, who="<b>x</b>", count=2)
    assert html == "Connecté en tant que &lt;b&gt;x&lt;/b&gt;|2 items"
    assert not isinstance(context["_"], Markup)


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("", "ar"),
        ("fr-FR,fr;q=0.9", "fr"),
        ("fr-LB", "fr"),
        ("de-DE,de;q=0.9", "ar"),
        ("en-US,en;q=0.9", "en"),
        ("ar-LB,en;q=0.8", "ar"),
        ("fr;q=0.4, en;q=0.5, ar;q=0.7", "ar"),
        ("fr;q=1, en;q=0.5, ar;q=0.7", "fr"),
        ("en;q=0, ar;q=0.1", "ar"),
        ("EN-gb", "en"),
        ("en;q=abc", "ar"),
    ],
)
def test_language_negotiation(header: str, lang: str) -> None:
    assert from_accept_language(header) == lang


@pytest.mark.parametrize("lang", LANGS)
def test_server_times_are_latin_24_hour_in_the_channels_zone(lang: str) -> None:
    # Beirut moves to summer time at midnight on the last Sunday of March.
    before = datetime(2026, 3, 28, 21, 59, tzinfo=UTC)
    after = datetime(2026, 3, 28, 22, 1, tzinfo=UTC)
    assert clock(before, "Asia/Beirut", lang) == "23:59"
    assert clock(after, "Asia/Beirut", lang) == "01:01"
    assert clock(after, "Asia/Beirut", lang, "yyyy-MM-dd HH:mm:ss") == "2026-03-29 01:01:00"
    assert clock(datetime(2026, 7, 1, 13, 5, tzinfo=UTC), "UTC", lang) == "13:05"
