"""The desk's own error: a status and a message key, shown as an HTML page."""

from __future__ import annotations

from collections.abc import Mapping


class DeskError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
        **params: object,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message  # a key of ticker.desk.i18n.MESSAGES
        self.params = params
        self.headers = dict(headers or {})


class LoginRequired(Exception):
    """No live session: GET pages redirect to the login form."""
