"""The app's services as a request sees them: `request.state.<name>`.

The lifespan (ticker/app.py) makes them once and yields them as Starlette's lifespan
state, which uvicorn copies (shallowly) into every request's scope: a route gets what
it needs from the request, not from a global. `Services` only names and types what is
there; `services(request)` is `request.state` with those types.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.datastructures import State
from starlette.requests import HTTPConnection

from ticker.auth.sessions import Sessions
from ticker.config import Settings
from ticker.fanout import Fanout
from ticker.scheduler import Scheduler
from ticker.store import Store

__all__ = ["Services", "lifespan_state", "services"]


class Services(State):
    settings: Settings
    store: Store
    fanout: Fanout  # the lifespan state's "fanout" is also what ticker/stream/fastpath.py reads
    scheduler: Scheduler
    sessions: Sessions  # the desk's


def lifespan_state(
    *,
    settings: Settings,
    store: Store,
    fanout: Fanout,
    scheduler: Scheduler,
    sessions: Sessions,
) -> dict[str, Any]:
    """What the lifespan yields: every name of `Services`, each given by keyword."""
    return {
        "settings": settings,
        "store": store,
        "fanout": fanout,
        "scheduler": scheduler,
        "sessions": sessions,
    }


def services(conn: HTTPConnection) -> Services:
    """This request's services (its `request.state`), typed."""
    return cast(Services, conn.state)
