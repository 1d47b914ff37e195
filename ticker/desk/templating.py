"""The desk's Jinja2 environment: the templates of `web/templates/desk/` with Jinja2's
i18n extension, and the per-request gettext functions they call.

The environment is shared by every request, so the translations are not installed
in it (that would mix languages between concurrent requests): each render puts
`_`, `gettext` and `ngettext` of the request's language in the template context,
where `{% trans %}` blocks and `_()` calls look them up. They are "new style"
(Jinja2's `newstyle_gettext`): they escape the translation, then fill in the
escaped parameters, so a translator cannot inject markup and a parameter is never
read as a format string.
"""

from __future__ import annotations

from typing import Any

import jinja2
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.templating import Jinja2Templates

from ticker.assets import TEMPLATES_DIR
from ticker.bidi import isolate_digits
from ticker.desk.i18n import LABELS, LANG_NAMES, LANGS, Contextual, Message, Plural, Translator
from ticker.model import PASSWORD_MIN


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        # Autoescaping is on for .html templates: item text is data, never markup.
        autoescape=jinja2.select_autoescape(),
        extensions=["jinja2.ext.i18n"],
    )
    # An attribute the i18n extension reads, missing from Environment's annotations.
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.filters["digits"] = isolate_digits  # digit groups left to right, as the widget does
    # The forms' `minlength` and their labels say the model's number, not one of their own.
    env.globals["password_min"] = PASSWORD_MIN
    return env


desk_templates = Jinja2Templates(env=_environment())


def _escaped(context: Context, text: str) -> str:
    return Markup(text) if context.eval_ctx.autoescape else text


def i18n_context(t: Translator) -> dict[str, Any]:
    """What the desk's templates need to speak the request's language."""

    @jinja2.pass_context
    def gettext(context: Context, message: str, **params: Any) -> str:
        return _escaped(context, t.translations.gettext(message)) % params

    @jinja2.pass_context
    def ngettext(context: Context, singular: str, plural: str, num: int, **params: Any) -> str:
        text = _escaped(context, t.translations.ngettext(singular, plural, num))
        return text % {"num": num, **params}

    @jinja2.pass_context
    def pgettext(context: Context, message_context: str, message: str, **params: Any) -> str:
        return _escaped(context, t.translations.pgettext(message_context, message)) % params

    @jinja2.pass_context
    def say(context: Context, message: Message, params: dict[str, Any] | None = None) -> str:
        """A message kept as data, such as a field's error, with its parameters."""
        params = dict(params or {})
        if isinstance(message, Plural):
            return ngettext(context, *message, **params)
        if isinstance(message, Contextual):
            return pgettext(context, *message, **params)
        return gettext(context, message, **params)

    return {
        "_": gettext,
        "gettext": gettext,
        "ngettext": ngettext,
        "pgettext": pgettext,
        "say": say,
        "lifetime_label": t.lifetime,
        "labels": LABELS,
        "lang": t.lang,
        "dir": t.dir,
        "other_langs": [(code, LANG_NAMES[code]) for code in LANGS if code != t.lang],
        "js_strings": t.js_strings(),
    }
