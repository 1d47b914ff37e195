"""Who is making an API request: a bearer token (from the CLI or an admin) or, for the
desk's own page, its session cookie plus the session's CSRF token in `X-CSRF-Token`
(docs/api.md; ticker/auth/sessions.py).
"""

from __future__ import annotations

from starlette.requests import Request

from ticker.auth.origin import Source, request_source
from ticker.auth.principal import Principal
from ticker.auth.sessions import COOKIE, CSRF_HEADER, Sessions, csrf_matches
from ticker.problems import Problem
from ticker.store import Store

__all__ = ["authenticate", "require_channel"]


async def authenticate(request: Request, store: Store, sessions: Sessions) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header and COOKIE in request.cookies:
        return await _desk_session(request, sessions)
    if not header:
        raise _unauthorized(
            "This request needs a publishing token: send 'Authorization: Bearer "
            "<token>' (make one with 'ticker token create')."
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("The Authorization header must be 'Bearer <token>'.")
    record = await store.find_token(token.strip())
    if record is None:
        raise _unauthorized(
            "This token is not valid (wrong, or revoked). Ask an admin for a "
            "new one ('ticker token create')."
        )
    return Principal(
        actor=f"token:{record.name}", channels=tuple(record.channels), admin=record.admin
    )


async def _desk_session(request: Request, sessions: Sessions) -> Principal:
    session = await sessions.load(request)
    if session is None:
        raise _unauthorized("Your desk session has ended; log in again at /desk/login.")
    # SameSite=Lax already keeps the cookie off cross-site POSTs; the token is the
    # check that does not depend on the browser (docs/api.md: without it, 403).
    if request_source(request.headers) is Source.CROSS_SITE:
        # The second layer (ticker/auth/origin.py): another site's page, whatever it sends.
        raise Problem(
            403,
            "This request came from another site's page; the desk's session cookie is "
            "accepted only from the desk itself.",
            title="Cross-site request refused",
        )
    if not csrf_matches(session.csrf, request.headers.get(CSRF_HEADER)):
        raise Problem(
            403,
            "A desk session must send its CSRF token in the X-CSRF-Token header; "
            "reload the desk and try again.",
            title="CSRF token missing or wrong",
        )
    return session.principal


def require_channel(principal: Principal, channel: str) -> None:
    if not principal.allows(channel):
        who = "Your account" if principal.actor.startswith("user:") else "This token"
        raise Problem(
            403,
            f"{who} may not publish on channel '{channel}'; it is limited to "
            f"{', '.join(principal.channels)}.",
        )


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="ticker"'})
