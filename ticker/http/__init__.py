"""HTTP helpers shared by the routes and the desk, one home for each rule:

- `conditional`: `not_modified`, the If-None-Match / If-Modified-Since rule of RFC 9110;
- `bodies`: request bodies read whole with a size cap (`read_body`, `BodyTooLarge`);
- `asset`: `Asset`, a file served from memory (gzip, ETag, content type, cache headers);
- `headers`: headers that several kinds of response share (`PUBLIC_HEADERS`, the CORS
  `preflight`).
"""

from __future__ import annotations

from ticker.http.asset import IMMUTABLE, Asset
from ticker.http.bodies import BodyTooLarge, read_body
from ticker.http.conditional import not_modified
from ticker.http.headers import PUBLIC_HEADERS, preflight

__all__ = [
    "IMMUTABLE",
    "PUBLIC_HEADERS",
    "Asset",
    "BodyTooLarge",
    "not_modified",
    "preflight",
    "read_body",
]
