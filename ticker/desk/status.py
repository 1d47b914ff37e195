"""The fleet status page for admins, /desk/admin/status (issue 14): every live process
with its streams, how far it trails the log and the readers it dropped, and the totals.

The server renders the figures of the moment, so the page is complete without
JavaScript; web/desk/status.js then asks GET /api/v1/status once per heartbeat (the
same body, built by `fleet_status`) and redraws the tables while the tab is visible.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ticker.desk.pages import desk_page, render, require_admin
from ticker.routes.common import services
from ticker.routes.status import fleet_status


@desk_page
async def status_page(request: Request) -> Response:
    session = await require_admin(request)
    fleet = await fleet_status(services(request))
    return render(request, "admin_status.html", {"page": "status", "fleet": fleet}, session=session)
