"""The one rule for new passwords, called by every place that sets one: the desk's
user creation and reset, the self-service change, and `ticker user add/passwd`.

A new password has at least PASSWORD_MIN (ticker/model.py) characters, is not
only whitespace, and is not one of the 1,000 most common passwords
(common_passwords.txt beside this file), nor one of them repeated ("qwertyqwerty")
or padded with spaces, in any letter case.
Existing shorter passwords still log in: the rule applies when one is set.
"""

from __future__ import annotations

import functools
from importlib import resources

from ticker.desk.i18n import N_, Message, Plural
from ticker.model import PASSWORD_MIN

__all__ = ["WeakPassword", "check_new_password", "password_error"]

# Why a password was refused: (the desk's message, the sentence for the command line).
# The messages that state the length take it as `num` (PASSWORD_MIN, given when one is
# raised) and are plural: Arabic says "12 حرفًا" but "8 أحرف".
REASONS: dict[str, tuple[Message, str]] = {
    "blank": (
        Plural(
            "A password cannot be only spaces. Choose one of at least %(num)d character.",
            "A password cannot be only spaces. Choose one of at least %(num)d characters.",
        ),
        "a password cannot be only spaces",
    ),
    "short": (
        Plural(
            "The password must be at least %(num)d character. "
            "A short sentence you remember will do.",
            "The password must be at least %(num)d characters. "
            "A short sentence you remember will do.",
        ),
        "a password must have at least {num} characters",
    ),
    "common": (
        N_(
            "This is one of the 1,000 most common passwords (or one repeated), "
            "which attackers try first. Choose another."
        ),
        "this password is one of the 1,000 most common ones (or one repeated): "
        "attackers try those first; choose another",
    ),
}


class WeakPassword(ValueError):
    """A new password that breaks the rule; `reason` is a key of REASONS. The desk shows
    `desk_message` with `desk_params`; the command line prints the exception."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.desk_message, sentence = REASONS[reason]
        self.desk_params: dict[str, object] = (
            {"num": PASSWORD_MIN} if isinstance(self.desk_message, Plural) else {}
        )
        super().__init__(sentence.format(num=PASSWORD_MIN))


@functools.cache
def common_passwords() -> frozenset[str]:
    text = resources.files("ticker.desk").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.casefold() for line in text.splitlines() if line and not line.startswith("#")
    )


def _is_common(password: str) -> bool:
    folded = password.strip().casefold()
    common = common_passwords()
    if folded in common:
        return True
    # A common password or a single character repeated: "abc123abc123", "aaaaaaaaaaaa".
    for size in range(1, len(folded) // 2 + 1):
        unit = folded[:size]
        if unit * (len(folded) // size) == folded and (size == 1 or unit in common):
            return True
    return False


def check_new_password(password: str) -> None:
    """Raise WeakPassword when `password` may not be set."""
    if not password.strip():
        raise WeakPassword("blank")
    if len(password) < PASSWORD_MIN:
        raise WeakPassword("short")
    if _is_common(password):
        raise WeakPassword("common")


def password_error(password: str) -> tuple[Message, dict[str, object]] | None:
    """The desk's message saying which part of the rule `password` breaks, with its
    parameters (a field error, as the forms keep them), or None."""
    try:
        check_new_password(password)
    except WeakPassword as exc:
        return exc.desk_message, exc.desk_params
    return None
