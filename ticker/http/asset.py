"""A file served from memory: the widget and its stylesheets, the live page's script and
style, the desk's static files.

Built once (minified where it applies, gzipped where it is asked for), then every response
is bytes from memory with a strong ETag naming the version, and a 304 when the client has it.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import rcssmin
import rjsmin
from starlette.requests import Request
from starlette.responses import Response

from ticker.http.conditional import not_modified

__all__ = ["CSS", "IMMUTABLE", "JS", "Asset", "accepts_gzip"]

# For URLs that carry the asset's version: that URL never names other bytes.
IMMUTABLE = "public, max-age=31536000, immutable"
JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"


@dataclass(frozen=True)
class Asset:
    """Its bytes, the same gzipped (None: always sent as they are), a hash naming the version."""

    body: bytes
    media_type: str
    version: str
    gzipped: bytes | None

    @classmethod
    def of(cls, body: bytes, media_type: str, *, compress: bool = True) -> Asset:
        version = hashlib.sha256(body).hexdigest()[:16]
        return cls(body, media_type, version, gzip.compress(body, 9, mtime=0) if compress else None)

    @classmethod
    def script(cls, source: str) -> Asset:
        """JavaScript, minified; `/*! … */` comments (licences, the widget's header) stay."""
        return cls.of(rjsmin.jsmin(source, keep_bang_comments=True).encode(), JS)

    @classmethod
    def stylesheet(cls, source: str) -> Asset:
        return cls.of(rcssmin.cssmin(source).encode(), CSS)

    def response(
        self, request: Request, *, cache_control: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        compressed = self.gzipped is not None and accepts_gzip(
            request.headers.get("accept-encoding", "")
        )
        # Strong ETags name one representation, so the gzipped bytes get their own.
        etag = f'"{self.version}-gzip"' if compressed else f'"{self.version}"'
        answer = {**(headers or {}), "ETag": etag, "Cache-Control": cache_control}
        if self.gzipped is not None:
            answer["Vary"] = "Accept-Encoding"
        if not_modified(request.headers, etag):
            return Response(status_code=304, headers=answer)
        if compressed and self.gzipped is not None:
            answer["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.media_type, headers=answer)
        return Response(self.body, media_type=self.media_type, headers=answer)


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding value takes gzip: named, or `*`, with a quality above 0."""
    for part in header.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=").strip()
            return quality == "" or _quality(quality) > 0
    return False


def _quality(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 1.0
