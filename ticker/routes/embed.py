"""Routes of the widget: /widget.js, /embed/{channel}, /demo (filled in by its issue)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
