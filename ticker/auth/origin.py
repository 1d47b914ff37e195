"""The second CSRF layer: where a state-changing request says it comes from.

Browsers tell a server who made a request: `Sec-Fetch-Site` (every current
browser) and `Origin` (on every cross-origin POST for years). A request from
another site, including another subdomain of the same site, is refused before
its form is read, whatever token it carries; the session's CSRF token stays the
first layer, and the one that covers clients sending neither header (scripts,
old browsers). The same rule as Datasette's and Go's cross-origin protection:
`Sec-Fetch-Site` decides when present, else `Origin` against the `Host` header.
"""

from __future__ import annotations

from enum import Enum
from urllib.parse import urlsplit

from starlette.datastructures import Headers

__all__ = ["SAFE_METHODS", "Source", "request_source"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Source(Enum):
    SAME_ORIGIN = "same-origin"  # the browser says so
    CROSS_SITE = "cross-site"  # another origin: refuse
    UNKNOWN = "unknown"  # no header to go by: only the token decides


def request_source(headers: Headers) -> Source:
    fetch_site = headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site:
        # "none": the user's own action (a bookmark, the address bar), not a page's.
        ok = fetch_site in ("same-origin", "none")
        return Source.SAME_ORIGIN if ok else Source.CROSS_SITE
    origin = headers.get("origin", "").strip()
    if not origin:
        return Source.UNKNOWN
    host = headers.get("host", "").strip().lower()
    parts = urlsplit(origin)
    if origin == "null" or not parts.netloc or parts.netloc.lower() != host:
        return Source.CROSS_SITE
    return Source.SAME_ORIGIN
