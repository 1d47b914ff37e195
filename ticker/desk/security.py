"""Security headers on every desk response (issue 3, item 6).

The CSP allows scripts and styles from our own origin only: no inline script,
no inline style attribute, no eval. `connect-src 'self'` is what the page's
fetch calls and its EventSource on /api/v1/stream need; `frame-ancestors
'none'` keeps the desk out of other sites' frames (clickjacking a publish
button is the attack it prevents).
"""

from __future__ import annotations

from starlette.responses import Response

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
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def secure(response: Response, *, cache: str = "no-store") -> Response:
    """Add the headers; desk pages hold session data, so browsers keep no copy."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", cache)
    return response
