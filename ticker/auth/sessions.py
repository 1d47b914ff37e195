"""Desk sessions and CSRF tokens.

The cookie holds a random session id signed with itsdangerous (a key kept in
Redis, shared by replicas); the session itself lives in Redis, so ending it
there (log out, a user disabled, a new password) ends it at once everywhere.
Its Redis TTL is the idle timeout, restarted by every request; a deadline in
the record ends it after a fixed time however active it is.

CSRF: each session has a token (an HMAC of its id under the signing key) that
every state-changing form carries in a hidden field and the page's own API
calls send as `X-CSRF-Token`; being derived, it still proves which session a
form was rendered for after that session ended (ticker/desk/drafts.py). The
login form, before any session exists, uses a double-submit token: a random
value in a SameSite=Strict cookie that the form must repeat. The second layer,
where a request comes from, is ticker/auth/origin.py.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace

from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import Request
from starlette.responses import Response

from ticker.auth.principal import Principal
from ticker.config import Settings
from ticker.store import Store, UserRecord
from ticker.store.desk import DeskStore, SessionRecord

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "Session",
    "Sessions",
    "csrf_matches",
]

COOKIE = "ticker_desk"
LOGIN_COOKIE = "ticker_desk_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


_UNLOADED = object()


@dataclass(frozen=True)
class Session:
    id: str
    record: SessionRecord
    user: UserRecord

    @property
    def csrf(self) -> str:
        return self.record.csrf

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def principal(self) -> Principal:
        """Who this session acts as: its user, on their channels (an admin: on all)."""
        channels = () if self.is_admin else tuple(self.user.channels)
        return Principal(actor=f"user:{self.user.name}", channels=channels, admin=self.is_admin)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def secure_cookie(request: Request) -> bool:
    # Behind TLS the proxy says so (X-Forwarded-Proto, trusted by uvicorn from
    # FORWARDED_ALLOW_IPS); the cookie then never travels over plain HTTP.
    return request.url.scheme == "https"


class Sessions:
    """One per app, made in its lifespan: loads, starts and ends sessions."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.desk = DeskStore(store)
        self.idle = settings.desk_idle_seconds
        self.lifetime = settings.desk_session_seconds
        self._secret: str | None = None

    async def secret(self) -> str:
        """The key that signs the desk's cookies and forms, shared by replicas through Redis."""
        if self._secret is None:
            self._secret = await self.desk.secret()
        return self._secret

    async def signer(self) -> TimestampSigner:
        return TimestampSigner(await self.secret(), salt="ticker.desk.session")

    async def load(self, request: Request) -> Session | None:
        """The request's live session, or None. Raises RedisError when Redis is down."""
        cached = getattr(request.state, "desk_session", _UNLOADED)
        if isinstance(cached, Session) or cached is None:
            return cached
        session = await self._load(request)
        request.state.desk_session = session
        return session

    async def cookie_session_id(self, request: Request) -> str | None:
        """The session id in the request's cookie when its signature is good, whether or
        not that session is still alive."""
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            return (await self.signer()).unsign(cookie, max_age=self.lifetime).decode()
        except BadSignature:
            return None

    async def csrf_for(self, session_id: str) -> str:
        """A session's CSRF token, derived from its id: a form still proves which session
        it was rendered for after that session has ended (ticker/desk/drafts.py)."""
        key = (await self.secret()).encode()
        return hmac.new(key, f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()

    async def _load(self, request: Request) -> Session | None:
        session_id = await self.cookie_session_id(request)
        if session_id is None:
            return None
        record = await self.desk.touch_session(session_id, self.idle)
        if record is None:
            return None
        if record.deadline_ms <= time.time() * 1000:
            await self.desk.end_session(session_id, record.user)
            return None
        user = await self.store.get_user(record.user)
        if user is None or user.disabled:
            # Disabling already ended the session; this covers a user deleted by hand.
            await self.desk.end_session(session_id, record.user)
            return None
        return Session(session_id, record, user)

    async def start(
        self,
        request: Request,
        response: Response,
        user: UserRecord,
        draft: dict[str, str] | None = None,
    ) -> Session:
        """A new session (a new id at every login: no fixation), its cookie on `response`."""
        session_id = secrets.token_urlsafe(32)
        now_ms = int(time.time() * 1000)
        record = SessionRecord(
            user=user.name,
            csrf=await self.csrf_for(session_id),
            created_ms=now_ms,
            deadline_ms=now_ms + self.lifetime * 1000,
            draft=draft,
        )
        await self.desk.create_session(session_id, record, self.idle)
        value = (await self.signer()).sign(session_id).decode()
        response.set_cookie(
            COOKIE,
            value,
            path="/",  # the page's API calls (/api/v1/...) carry it too
            httponly=True,
            samesite="lax",
            secure=secure_cookie(request),
        )
        session = Session(session_id, record, user)
        request.state.desk_session = session
        return session

    async def end(self, request: Request, response: Response) -> None:
        session = await self.load(request)
        if session is not None:
            await self.desk.end_session(session.id, session.user.name)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
        request.state.desk_session = None

    async def take_draft(self, session: Session) -> dict[str, str] | None:
        """The compose form carried across a login, once."""
        if not session.record.draft:
            return None
        await self.desk.save_session(session.id, replace(session.record, draft=None), self.idle)
        return session.record.draft


# The login form's double-submit token.


def login_token(request: Request) -> tuple[str, bool]:
    """(the token, whether the cookie must be set on the response)."""
    token = request.cookies.get(LOGIN_COOKIE, "")
    if len(token) >= 32:
        return token, False
    return secrets.token_urlsafe(32), True


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        path="/desk",
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
    )
