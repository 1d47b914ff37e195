"""The desk's own error: a status and a message, shown as an HTML page in the reader's
language."""

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
        self.message = message  # English, marked with N_(): translated when shown
        self.params = params
        self.headers = dict(headers or {})


class LoginRequired(Exception):
    """No live session: GET pages redirect to the login form."""
