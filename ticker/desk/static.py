"""The desk's own scripts and styles from `web/desk/`, at /desk/static/NAME.

Pages link them as `NAME?v=HASH` (see `asset_url`): such a URL never changes
content, so browsers and CDNs may keep it for a year. Without `v` (the
modules a script imports) browsers revalidate with the ETag each time.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from ticker.assets import WEB_DIR

DESK_DIR = (WEB_DIR / "desk").resolve()
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    etag: str
    media_type: str
    mtime_ns: int


_cache: dict[Path, Asset] = {}


def _load(path: Path) -> Asset | None:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _cache.get(path)
    if cached is not None and cached.mtime_ns == mtime:
        return cached
    body = path.read_bytes()
    media = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    asset = Asset(
        body,
        hashlib.sha256(body).hexdigest()[:16],
        media or "application/octet-stream",
        mtime,
    )
    _cache[path] = asset
    return asset


def _resolve(name: str) -> Path | None:
    path = (DESK_DIR / name).resolve()
    if not path.is_relative_to(DESK_DIR) or not path.is_file():
        return None
    return path


def asset_url(name: str) -> str:
    path = _resolve(name)
    asset = _load(path) if path is not None else None
    version = f"?v={asset.etag}" if asset is not None else ""
    return f"/desk/static/{name}{version}"


async def static_file(request: Request) -> Response:
    path = _resolve(request.path_params["path"])
    asset = _load(path) if path is not None else None
    if asset is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    etag = f'"{asset.etag}"'
    versioned = request.query_params.get("v") == asset.etag
    cache = "public, max-age=31536000, immutable" if versioned else "no-cache"
    headers = {"ETag": etag, "Cache-Control": cache}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
