"""The desk's own scripts and styles from `web/desk/`, at /desk/static/NAME.

Pages link them as `NAME?v=HASH` (see `asset_url`): such a URL never changes
content, so browsers and CDNs may keep it for a year. Without `v` (the
modules a script imports) browsers revalidate with the ETag each time.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from ticker.assets import WEB_DIR
from ticker.http import IMMUTABLE, Asset

DESK_DIR = (WEB_DIR / "desk").resolve()
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

# Path → (its mtime when read, the asset): an edited file is read again (a dev's reload).
_cache: dict[Path, tuple[int, Asset]] = {}


def _load(path: Path) -> Asset | None:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    media = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    # Not gzipped: a handful of editors load these, once a version.
    asset = Asset.of(path.read_bytes(), media or "application/octet-stream", compress=False)
    _cache[path] = (mtime, asset)
    return asset


def _resolve(name: str) -> Path | None:
    path = (DESK_DIR / name).resolve()
    if not path.is_relative_to(DESK_DIR) or not path.is_file():
        return None
    return path


def asset_url(name: str) -> str:
    path = _resolve(name)
    asset = _load(path) if path is not None else None
    version = f"?v={asset.version}" if asset is not None else ""
    return f"/desk/static/{name}{version}"


async def static_file(request: Request) -> Response:
    path = _resolve(request.path_params["path"])
    asset = _load(path) if path is not None else None
    if asset is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    versioned = request.query_params.get("v") == asset.version
    return asset.response(request, cache_control=IMMUTABLE if versioned else "no-cache")
