"""Device cookies: how the login throttle tells an account's own browsers from
strangers (OWASP's "device cookie" scheme; ticker/desk/throttle.py).

A successful login gives the browser a random device id for that account, kept
in one signed cookie that holds the ids of the last few accounts used on it (a
newsroom computer is often shared). The cookie proves nothing about who types
the password; it only says "this browser logged in to this account before", so
that strangers' failures never throttle it. It outlives logouts on purpose.
"""

from __future__ import annotations

import secrets
import time

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from ticker.desk.throttle import account_key

__all__ = ["DEVICE_COOKIE", "Devices"]

DEVICE_COOKIE = "ticker_desk_device"
LIFETIME = 365 * 86400  # an account's entry lapses a year after its last login here
MAX_ACCOUNTS = 8  # per browser; the least recently used account's entry goes first


class Devices:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt="ticker.desk.device")

    def _entries(self, request: Request) -> dict[str, tuple[str, int]]:
        """account key -> (device id, when it was issued), the valid and current ones."""
        raw = request.cookies.get(DEVICE_COOKIE)
        if not raw:
            return {}
        try:
            data = self._serializer.loads(raw)
        except BadSignature:
            return {}
        now = int(time.time())
        entries: dict[str, tuple[str, int]] = {}
        if isinstance(data, dict):
            for account, value in data.items():
                if (
                    isinstance(value, list)
                    and len(value) == 2
                    and isinstance(value[0], str)
                    and isinstance(value[1], int)
                    and now - value[1] < LIFETIME
                ):
                    entries[str(account)] = (value[0], value[1])
        return entries

    def device_for(self, request: Request, name: str) -> str | None:
        """The browser's device id for account `name`, or None when it has none."""
        entry = self._entries(request).get(account_key(name))
        return entry[0] if entry else None

    def remember(self, request: Request, response: Response, name: str, *, secure: bool) -> None:
        """After a successful login: a new device id for this account on this browser."""
        entries = self._entries(request)
        entries.pop(account_key(name), None)
        newest = sorted(entries.items(), key=lambda kv: kv[1][1], reverse=True)
        kept = dict(newest[: MAX_ACCOUNTS - 1])
        kept[account_key(name)] = (secrets.token_urlsafe(16), int(time.time()))
        value = self._serializer.dumps({k: list(v) for k, v in kept.items()})
        response.set_cookie(
            DEVICE_COOKIE,
            value,
            max_age=LIFETIME,
            path="/desk/login",  # read by the login only
            httponly=True,
            samesite="strict",
            secure=secure,
        )
