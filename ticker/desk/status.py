"""The fleet status page for admins, /desk/admin/status: every live process
with its streams, how far it trails the log and the readers it dropped, and the totals.

The server renders the figures of the moment, so the page is complete without
JavaScript; web/desk/status.js then asks GET /api/v1/status once per heartbeat (the
same body, built by `fleet_status`) and redraws the tables while the tab is visible.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ticker.desk.pages import render, require_admin
from ticker.heartbeat import fleet_status
from ticker.services import services


async def status_page(request: Request) -> Response:
    session = await require_admin(request)
    svc = services(request)
    fleet = await fleet_status(svc.store, svc.settings.heartbeat_seconds)
    return render(request, "admin_status.html", {"page": "status", "fleet": fleet}, session=session)
