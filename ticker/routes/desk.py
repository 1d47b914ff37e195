"""Routes of the news desk: /desk (filled in by its issue)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
