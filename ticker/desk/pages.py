"""How desk pages are made: templates with the language, the session and the security
headers; and the wrapper every desk endpoint goes through.

The app turns a RedisError into 503 problem+json, which suits the API, not an
editor: `desk_page` catches it first and answers with an HTML page instead
(the compose and correct forms catch it earlier still, to keep the text).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ticker.desk.errors import DeskError, LoginRequired
from ticker.desk.forms import Form, read_form
from ticker.desk.i18n import N_, Translator, translator
from ticker.desk.origin import SAFE_METHODS, Source, request_source
from ticker.desk.security import secure
from ticker.desk.sessions import COOKIE, CSRF_FIELD, Session, csrf_matches, sessions
from ticker.desk.static import asset_url
from ticker.desk.templating import desk_templates, i18n_context

log = logging.getLogger("ticker.desk")

Endpoint = Callable[[Request], Awaitable[Response]]


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
    response = desk_templates.TemplateResponse(
        request, f"desk/{template}", ctx, status_code=status, headers=headers
    )
    return secure(response)


def _here(request: Request, session: Session | None) -> str:
    """Where the language switch comes back to: this page, or after a form post (which
    cannot be repeated by a GET) the desk's start."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/desk/compose" if session else "/desk/login"


def redirect(url: str) -> Response:
    # 303: the browser follows with a GET, so a reload never re-posts the form.
    return secure(RedirectResponse(url, status_code=303))


def error_page(request: Request, status: int, message: str, **params: object) -> Response:
    headers = {"Retry-After": "2"} if status == 503 else None
    return render(
        request,
        "error.html",
        {"status": status, "message": message, "params": params},
        status=status,
        headers=headers,
    )


def desk_page(endpoint: Endpoint) -> Endpoint:
    """Security headers on every response; HTML pages for errors and Redis outages."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            refuse_cross_site(request)
            response = await endpoint(request)
        except LoginRequired:
            # After logging in, a GET page comes back; a form post cannot be replayed.
            target = "/desk/compose"
            if request.method in ("GET", "HEAD"):
                query = f"?{request.url.query}" if request.url.query else ""
                target = request.url.path + query
            expired = "&expired=1" if COOKIE in request.cookies else ""
            response = redirect(f"/desk/login?next={quote(target)}{expired}")
        except DeskError as exc:
            response = error_page(request, exc.status, exc.message, **exc.params)
            response.headers.update(exc.headers)
        except (RedisError, ConnectionError) as exc:
            log.warning("Redis error on %s %s: %s", request.method, request.url.path, exc)
            request.state.desk_session = None  # unknown: render without the user's menu
            response = error_page(
                request,
                503,
                N_(
                    "The ticker's database (Redis) cannot be reached right now. Reload in a "
                    "few seconds; your draft is kept in this browser."
                ),
            )
        return secure(response)

    return wrapper


def refuse_cross_site(request: Request) -> None:
    """The second CSRF layer, before anything else: no state-changing request from
    another site's page, whatever it carries (ticker/desk/origin.py)."""
    if request.method not in SAFE_METHODS and request_source(request.headers) is Source.CROSS_SITE:
        raise DeskError(
            403,
            N_(
                "This request came from another site's page, so nothing changed. Open "
                "the desk yourself (its address or a bookmark) and try again."
            ),
        )


async def require_session(request: Request) -> Session:
    session = await sessions(request).load(request)
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
