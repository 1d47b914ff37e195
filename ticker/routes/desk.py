"""The news desk: one Mount under /desk with the desk's own middleware; the
handlers live in ticker/desk/.

Inside the Mount: the security headers on every answer, the desk's exception handlers
(HTML pages, not problem+json), and the refusal of cross-site posts before any
handler runs. `/desk` itself, without the slash, is not inside a Mount's path, so it
has its own route (with the headers) rather than Starlette's redirect to `/desk/`.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Mount, Route

from ticker.desk import admin, audit, compose, login, status
from ticker.desk.pages import EXCEPTION_HANDLERS, not_found
from ticker.desk.security import RefuseCrossSite, SecurityHeaders
from ticker.desk.static import static_file

ITEM = "/items/{channel}/{item_id}"

# Outermost first: the headers go on error pages too; the cross-site refusal is a
# DeskError, so it becomes the desk's page.
MIDDLEWARE = [
    Middleware(SecurityHeaders),
    Middleware(ExceptionMiddleware, handlers=EXCEPTION_HANDLERS),
    Middleware(RefuseCrossSite),
]

# GET routes answer HEAD too (Starlette adds it).
desk_routes: list[BaseRoute] = [
    Route("/", login.index, methods=["GET"]),
    Route("/static/{path:path}", static_file, methods=["GET"]),
    Route("/login", login.login_form, methods=["GET"]),
    Route("/login", login.login, methods=["POST"]),
    Route("/logout", login.logout, methods=["POST"]),
    Route("/password", login.password_form, methods=["GET"]),
    Route("/password", login.change_password, methods=["POST"]),
    Route("/lang/{lang}", login.switch_language, methods=["GET"]),
    Route("/compose", compose.compose_page, methods=["GET"]),
    Route("/publish", compose.publish_form, methods=["POST"]),
    Route("/session", compose.keepalive, methods=["GET"]),
    Route(f"{ITEM}/edit", compose.edit_page, methods=["GET"]),
    Route(f"{ITEM}/edit", compose.edit_item, methods=["POST"]),
    Route(f"{ITEM}/retract", compose.retract_page, methods=["GET"]),
    Route(f"{ITEM}/retract", compose.retract_item, methods=["POST"]),
    Route("/audit", audit.audit_page, methods=["GET"]),
    Route("/audit.csv", audit.audit_csv, methods=["GET"]),
    Route("/admin/channels", admin.channels_page, methods=["GET"]),
    Route("/admin/channels", admin.add_channel, methods=["POST"]),
    Route("/admin/channels/{channel}", admin.edit_channel, methods=["POST"]),
    Route("/admin/users", admin.users_page, methods=["GET"]),
    Route("/admin/users", admin.add_user, methods=["POST"]),
    Route("/admin/users/{name}", admin.change_user, methods=["POST"]),
    Route("/admin/tokens", admin.tokens_page, methods=["GET"]),
    Route("/admin/tokens", admin.create_token, methods=["POST"]),
    Route("/admin/tokens/{name}/revoke", admin.revoke_token, methods=["POST"]),
    Route("/admin/status", status.status_page, methods=["GET"]),
    # Anything else under /desk: an HTML page with the desk's headers, not problem+json.
    Route("/{path:path}", not_found, methods=["GET"]),
]

routes: list[BaseRoute] = [
    Route("/desk", login.index, methods=["GET"], middleware=[Middleware(SecurityHeaders)]),
    Mount("/desk", routes=desk_routes, middleware=MIDDLEWARE),
]
