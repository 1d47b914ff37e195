"""Errors as `application/problem+json` (RFC 9457), the one error shape of the API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from ticker.model import FieldError

MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise anywhere in a request; the app turns it into a problem+json response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return body

    def response(self) -> JSONResponse:
        return ProblemResponse(
            self.body(), status_code=self.status, headers=self.headers, media_type=MEDIA_TYPE
        )


class ProblemResponse(JSONResponse):
    """A problem that can always be written: a detail repeating a client's lone surrogate
    (which UTF-8 cannot hold) carries it as the JSON escape `\\udXXX` instead of failing."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def invalid_fields(errors: list[FieldError]) -> Problem:
    names = ", ".join(dict.fromkeys(e.field for e in errors))
    detail = "; ".join(f"{e.field} {e.message}" for e in errors)
    return Problem(422, detail, title=f"Invalid fields: {names}", errors=errors)


def redis_unavailable() -> Problem:
    return Problem(
        503,
        "The ticker's database (Redis) cannot be reached right now, so this was not done "
        "(or, if Redis answered too late, not confirmed). Try again in a few seconds; a "
        "publish retried with the same Idempotency-Key never publishes twice.",
        title="Service Unavailable",
        headers={"Retry-After": "2"},
    )
