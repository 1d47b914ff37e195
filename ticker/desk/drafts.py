"""A compose form carried across a new login, and only the editor's own.

When a form is posted after its session ended, the text is kept only if the post
proves it came from the desk's own page in this browser: its CSRF token must be
the one derived from the (signed, now ended) session cookie the browser still
sends. A cross-site page knows neither, so it cannot plant a draft. The kept
draft then travels through the login form sealed (signed), so a login post
cannot bring one of its own either.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = ["COMPOSE_FIELDS", "seal", "unseal"]

# The compose form's fields (ticker/desk/compose.py): a draft is that form, kept.
COMPOSE_FIELDS = ("text", "url", "channel", "priority", "ttl_seconds", "idempotency_key")
DRAFT_MAX_AGE = 3600  # a login page left open longer than this forgets the draft


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="ticker.desk.draft")


def seal(secret: str, draft: dict[str, str]) -> str:
    return _serializer(secret).dumps({k: draft[k] for k in COMPOSE_FIELDS if draft.get(k)})


def unseal(secret: str, sealed: str | None) -> dict[str, str] | None:
    """The draft the desk sealed, or None for anything else (absent, altered, too old)."""
    if not sealed:
        return None
    try:
        data = _serializer(secret).loads(sealed, max_age=DRAFT_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    draft = {k: v for k, v in data.items() if k in COMPOSE_FIELDS and isinstance(v, str)}
    return draft or None
