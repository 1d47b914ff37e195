"""The widget's options: the element's attributes, and the same names as query parameters
of `/embed` and `/demo` (docs/widget.md lists them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ticker.model import LANG_TAG, FieldError, whole_number
from ticker.problems import Problem

CHOICES = {
    "mode": ("list", "marquee"),
    "dir": ("rtl", "ltr"),
    "digits": ("latn", "arab"),
    "hour-cycle": ("h23", "h12"),
    "theme": ("light", "dark"),
}
LABEL_MAX = 40


@dataclass(frozen=True)
class Options:
    mode: str = "list"
    limit: int = 10
    lang: str | None = None
    dir: str | None = None
    timezone: str | None = None
    digits: str = "latn"
    hour_cycle: str = "h23"
    theme: str = "light"
    label: str | None = None

    def attributes(self) -> dict[str, str]:
        """The element's attributes; those left out default from the channel, as in /embed."""
        values = {
            "mode": self.mode,
            "limit": str(self.limit),
            "lang": self.lang,
            "dir": self.dir,
            "timezone": self.timezone,
            "digits": self.digits,
            "hour-cycle": self.hour_cycle,
            "theme": self.theme,
            "label": self.label,
        }
        return {name: value for name, value in values.items() if value is not None}


def parse_options(query: Mapping[str, str], **defaults: Any) -> Options:
    """Query parameters named like the attributes; a bad value is a 400 naming it (unknown
    parameters are ignored, so that links may carry tracking or cache-busting ones)."""
    values: dict[str, Any] = dict(defaults)
    errors: list[FieldError] = []
    for name, allowed in CHOICES.items():
        value = query.get(name)
        if value is None:
            continue
        if value in allowed:
            values[name.replace("-", "_")] = value
        else:
            errors.append(FieldError(name, f"must be {' or '.join(allowed)}"))
    if (limit := query.get("limit")) is not None:
        if (number := whole_number(limit, 1, 100)) is not None:
            values["limit"] = number
        else:
            errors.append(FieldError("limit", "must be a whole number from 1 to 100"))
    if (lang := query.get("lang")) is not None:
        # The rule channels follow (ticker/model.py): a box may take any language a channel may.
        if LANG_TAG.match(lang):
            values["lang"] = lang
        else:
            errors.append(FieldError("lang", "must be a language tag such as ar or ar-LB"))
    if (zone := query.get("timezone")) is not None:
        if find_zone(zone) is None:
            errors.append(FieldError("timezone", "must be an IANA time zone such as Asia/Beirut"))
        else:
            values["timezone"] = zone
    if (label := query.get("label")) is not None:
        if 1 <= len(label.strip()) <= LABEL_MAX and label.isprintable():
            values["label"] = label.strip()
        else:
            errors.append(FieldError("label", f"must be 1 to {LABEL_MAX} printable characters"))
    if errors:
        raise Problem(
            400,
            "; ".join(f"{e.field} {e.message}" for e in errors) + ". docs/widget.md lists them.",
            title="Invalid widget options",
            errors=errors,
        )
    return Options(**values)


def find_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
