"""Who may publish: bearer tokens (from the CLI) and, for the desk, user accounts.

Tokens are stored only as SHA-256 digests (they carry 256 random bits, so a
fast hash is safe). Passwords are hashed with argon2id (argon2-cffi's defaults).
The desk's pages call the API with their session cookie plus the session's
CSRF token in `X-CSRF-Token` (API.md; ticker/desk/sessions.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request

from ticker.desk.origin import Source, request_source
from ticker.desk.sessions import COOKIE, CSRF_HEADER, csrf_matches, sessions
from ticker.problems import Problem
from ticker.store import Store

ROLES = ("editor", "admin")
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    """Who is making a publishing request, and on which channels (empty: all)."""

    actor: str  # "token:NAME" or "user:NAME": recorded in the log, never shown publicly
    channels: tuple[str, ...] = ()
    admin: bool = False  # an admin desk user or an `--admin` token: may read /api/v1/status

    def allows(self, channel: str) -> bool:
        return not self.channels or channel in self.channels


async def authenticate(request: Request, store: Store) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header and COOKIE in request.cookies:
        return await _desk_session(request)
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


async def _desk_session(request: Request) -> Principal:
    session = await sessions(request).load(request)
    if session is None:
        raise _unauthorized("Your desk session has ended; log in again at /desk/login.")
    # SameSite=Lax already keeps the cookie off cross-site POSTs; the token is the
    # check that does not depend on the browser (API.md: without it, 403).
    if request_source(request.headers) is Source.CROSS_SITE:
        # The second layer (ticker/desk/origin.py): another site's page, whatever it sends.
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
    return Principal(
        actor=f"user:{session.user.name}", channels=session.channels, admin=session.is_admin
    )


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
