"""The desk's own middleware: its security headers on every response,
and the second CSRF layer before any of its handlers runs.

The CSP allows scripts and styles from our own origin only: no inline script,
no inline style attribute, no eval. `connect-src 'self'` is what the page's
fetch calls and its EventSource on /api/v1/stream need; `frame-ancestors
'none'` keeps the desk out of other sites' frames (clickjacking a publish
button is the attack it prevents).
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticker.auth.origin import SAFE_METHODS, Source, request_source
from ticker.desk.errors import DeskError
from ticker.desk.i18n import N_

__all__ = ["CSP", "HEADERS", "RefuseCrossSite", "SecurityHeaders"]

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """HEADERS on every response that does not set its own, and `Cache-Control:
    no-store` unless it says otherwise (static files do): desk pages hold session data,
    so browsers keep no copy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_secured)


class RefuseCrossSite:
    """The second CSRF layer, before anything else: no state-changing request from
    another site's page, whatever it carries (ticker/auth/origin.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and request_source(Headers(scope=scope)) is Source.CROSS_SITE
        ):
            raise DeskError(
                403,
                N_(
                    "This request came from another site's page, so nothing changed. Open "
                    "the desk yourself (its address or a bookmark) and try again."
                ),
            )
        await self.app(scope, receive, send)
