"""How desk pages are made: templates with the language and the session; the desk's
answers to its errors; and what a handler requires of a request (a session, an admin,
a form with its CSRF token).

The app turns a RedisError into 503 problem+json, which suits the API, not an
editor: the desk's own exception handlers (`EXCEPTION_HANDLERS`, installed on its
Mount) answer with an HTML page instead (the compose and correct forms catch it
earlier still, to keep the text).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ExceptionHandler

from ticker.auth.sessions import COOKIE, CSRF_FIELD, Session, csrf_matches
from ticker.desk.errors import DeskError, LoginRequired
from ticker.desk.forms import Form, read_form
from ticker.desk.i18n import N_, Translator, translator
from ticker.desk.static import asset_url
from ticker.desk.templating import desk_templates, i18n_context
from ticker.services import services

log = logging.getLogger("ticker.desk")


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    session: Session | None = None,
) -> Response:
    t: Translator = translator(request)
    if session is None:
        session = getattr(request.state, "desk_session", None)
    ctx: dict[str, Any] = {
        **i18n_context(t),
        "session": session,
        "user": session.user if session else None,
        "csrf": session.csrf if session else "",
        "asset": asset_url,
        "here": quote(_here(request, session)),
        "page": "",
        **(context or {}),
    }
    return desk_templates.TemplateResponse(
        request, f"desk/{template}", ctx, status_code=status, headers=headers
    )


def _here(request: Request, session: Session | None) -> str:
    """Where the language switch comes back to: this page, or after a form post (which
    cannot be repeated by a GET) the desk's start."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/desk/compose" if session else "/desk/login"


def redirect(url: str) -> Response:
    # 303: the browser follows with a GET, so a reload never re-posts the form.
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, message: str, **params: object) -> Response:
    headers = {"Retry-After": "2"} if status == 503 else None
    return render(
        request,
        "error.html",
        {"status": status, "message": message, "params": params},
        status=status,
        headers=headers,
    )


async def not_found(request: Request) -> Response:
    """Anything else under /desk: an HTML page with the desk's headers, not problem+json."""
    raise DeskError(404, N_("Nothing here."))


async def _login_required(request: Request, exc: Exception) -> Response:
    # After logging in, a GET page comes back; a form post cannot be replayed.
    target = "/desk/compose"
    if request.method in ("GET", "HEAD"):
        query = f"?{request.url.query}" if request.url.query else ""
        target = request.url.path + query
    expired = "&expired=1" if COOKIE in request.cookies else ""
    return redirect(f"/desk/login?next={quote(target)}{expired}")


async def _desk_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeskError)
    response = error_page(request, exc.status, exc.message, **exc.params)
    response.headers.update(exc.headers)
    return response


async def _redis_down(request: Request, exc: Exception) -> Response:
    log.warning("Redis error on %s %s: %s", request.method, request.url.path, exc)
    request.state.desk_session = None  # unknown: render without the user's menu
    return error_page(
        request,
        503,
        N_(
            "The ticker's database (Redis) cannot be reached right now. Reload in a "
            "few seconds; your draft is kept in this browser."
        ),
    )


async def _not_ours(request: Request, exc: Exception) -> Response:
    # A Mount's exception middleware always has an HTTPException handler: raising it
    # again leaves a 405 from the router to the app's own (problem+json) answer.
    raise exc


# The desk's Mount installs these (ticker/routes/desk.py); what they do not name (a
# store error of a replica, say) goes on to the app's handlers.
EXCEPTION_HANDLERS: dict[type[Exception], ExceptionHandler] = {
    LoginRequired: _login_required,
    DeskError: _desk_error,
    RedisError: _redis_down,
    ConnectionError: _redis_down,
    HTTPException: _not_ours,
}


async def require_session(request: Request) -> Session:
    session = await services(request).sessions.load(request)
    if session is None:
        raise LoginRequired()
    return session


async def require_admin(request: Request) -> Session:
    session = await require_session(request)
    if not session.is_admin:
        raise DeskError(403, N_("Only admins can use this page."))
    return session


def require_csrf(session: Session, form: Form) -> None:
    if not csrf_matches(session.csrf, form.get(CSRF_FIELD)):
        raise DeskError(
            403,
            N_(
                "This form was out of date or sent from another site, so nothing "
                "changed. Go back, reload the page, and try again."
            ),
        )


async def require_post(request: Request, *, admin: bool = False) -> tuple[Session, Form]:
    """A form post by a logged-in user (an admin, with `admin`) that carries their CSRF token."""
    session = await (require_admin if admin else require_session)(request)
    form = await read_form(request)
    require_csrf(session, form)
    return session, form


def local_path(value: str | None, default: str = "/desk/compose") -> str:
    """Only a path on this desk: never an open redirect to another site."""
    if not value or not value.startswith("/desk") or value.startswith("//") or "\\" in value:
        return default
    return value
