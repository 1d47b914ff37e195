"""Routes of the news desk under /desk (issue 3); the handlers live in ticker/desk/."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ticker.desk import admin, audit, compose, login, status
from ticker.desk.errors import DeskError
from ticker.desk.pages import desk_page
from ticker.desk.static import static_file


@desk_page
async def not_found(request: Request) -> Response:
    raise DeskError(404, "error.not_found")


ITEM = "/desk/items/{channel}/{item_id}"

routes: list[BaseRoute] = [
    Route("/desk", login.index, methods=["GET"]),
    Route("/desk/", login.index, methods=["GET"]),
    Route("/desk/static/{path:path}", static_file, methods=["GET"]),
    Route("/desk/login", login.login_form, methods=["GET"]),
    Route("/desk/login", login.login, methods=["POST"]),
    Route("/desk/logout", login.logout, methods=["POST"]),
    Route("/desk/password", login.password_form, methods=["GET"]),
    Route("/desk/password", login.change_password, methods=["POST"]),
    Route("/desk/lang/{lang}", login.switch_language, methods=["GET"]),
    Route("/desk/compose", compose.compose_page, methods=["GET"]),
    Route("/desk/publish", compose.publish_form, methods=["POST"]),
    Route("/desk/session", compose.keepalive, methods=["GET"]),
    Route(f"{ITEM}/edit", compose.edit_page, methods=["GET"]),
    Route(f"{ITEM}/edit", compose.edit_item, methods=["POST"]),
    Route(f"{ITEM}/retract", compose.retract_page, methods=["GET"]),
    Route(f"{ITEM}/retract", compose.retract_item, methods=["POST"]),
    Route("/desk/audit", audit.audit_page, methods=["GET"]),
    Route("/desk/audit.csv", audit.audit_csv, methods=["GET"]),
    Route("/desk/admin/channels", admin.channels_page, methods=["GET"]),
    Route("/desk/admin/channels", admin.add_channel, methods=["POST"]),
    Route("/desk/admin/channels/{channel}", admin.edit_channel, methods=["POST"]),
    Route("/desk/admin/users", admin.users_page, methods=["GET"]),
    Route("/desk/admin/users", admin.add_user, methods=["POST"]),
    Route("/desk/admin/users/{name}", admin.change_user, methods=["POST"]),
    Route("/desk/admin/tokens", admin.tokens_page, methods=["GET"]),
    Route("/desk/admin/tokens", admin.create_token, methods=["POST"]),
    Route("/desk/admin/tokens/{name}/revoke", admin.revoke_token, methods=["POST"]),
    Route("/desk/admin/status", status.status_page, methods=["GET"]),
    # Anything else under /desk: an HTML page with the desk's headers, not problem+json.
    Route("/desk/{path:path}", not_found),
]
