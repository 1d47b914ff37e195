"""Logging in and out, changing one's password, and the language switch."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ticker.auth.origin import Source, request_source
from ticker.auth.sessions import (
    CSRF_FIELD,
    csrf_matches,
    login_token,
    secure_cookie,
    set_login_cookie,
)
from ticker.auth.users import hash_password, verify_password
from ticker.desk import throttle
from ticker.desk.devices import Devices
from ticker.desk.drafts import seal, unseal
from ticker.desk.errors import DeskError
from ticker.desk.forms import read_form
from ticker.desk.i18n import LANG_COOKIE, LANGS, N_, Message, Plural
from ticker.desk.pages import local_path, redirect, render, require_post, require_session
from ticker.desk.passwords import password_error
from ticker.services import services
from ticker.store import UserRecord

# Verified against when the user does not exist, so that a wrong name takes as
# long as a wrong password and response times do not reveal who has an account.
_dummy_hash: str | None = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not a real password, only for timing")
    return _dummy_hash


async def check_password(user: UserRecord | None, password: str) -> bool:
    # argon2 takes ~0.1 s of CPU: off the event loop, so streams keep flowing.
    if user is None:
        await run_in_threadpool(verify_password, _dummy(), password)
        return False
    return await run_in_threadpool(verify_password, user.password_hash, password)


async def login_page(
    request: Request,
    *,
    status: int = 200,
    message: Message = "",
    message_params: dict[str, object] | None = None,
    kind: str = "error",
    name: str = "",
    draft: dict[str, str] | None = None,
    next_path: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    token, fresh = login_token(request)
    sealed = seal(await services(request).sessions.secret(), draft) if draft else ""
    response = render(
        request,
        "login.html",
        {
            "page": "login",
            "login_csrf": token,
            "message": message,
            "message_params": message_params or {},
            "kind": kind,
            "name": name,
            "draft": draft or {},
            "sealed_draft": sealed,
            "next": local_path(next_path or request.query_params.get("next")),
        },
        status=status,
        headers=headers,
        session=None,
    )
    if fresh:
        set_login_cookie(request, response, token)
    return response


async def index(request: Request) -> Response:
    return redirect("/desk/compose")


async def login_form(request: Request) -> Response:
    if await services(request).sessions.load(request) is not None:
        return redirect(local_path(request.query_params.get("next")))
    message = ""
    if request.query_params.get("expired"):
        message = N_("Your session has ended. Please log in again.")
    elif request.query_params.get("out"):
        message = N_("You are logged out.")
    return await login_page(request, message=message, kind="info")


async def login(request: Request) -> Response:
    form = await read_form(request)
    name = form.get("name", "").strip()
    password = form.get("password", "")
    next_path = local_path(form.get("next"))
    token, _ = login_token(request)
    if not csrf_matches(token, form.get(CSRF_FIELD)):
        raise DeskError(
            403,
            N_(
                "This form was out of date or sent from another site, so nothing "
                "changed. Go back, reload the page, and try again."
            ),
        )
    registry = services(request).sessions
    draft = unseal(await registry.secret(), form.get("draft"))

    async def again(
        status: int, message: Message, headers: dict[str, str] | None = None, **params: object
    ) -> Response:
        return await login_page(
            request,
            status=status,
            message=message,
            message_params=params,
            name=name,
            draft=draft,
            next_path=next_path,
            headers=headers,
        )

    devices = Devices(await registry.secret())
    attempt = throttle.Attempt(
        name=name,
        address=request.client.host if request.client else "unknown",
        device=devices.device_for(request, name),
    )
    wait = await throttle.wait_seconds(registry.desk, attempt)
    if wait:
        # Checked before the password: a refused attempt costs no argon2 work, and a
        # right password during the wait reveals nothing (ticker/desk/throttle.py).
        minutes = max(1, -(-wait // 60))
        return await again(
            429,
            Plural(
                "Too many failed attempts. Wait %(num)d minute, then try again, or ask an "
                "admin to reset your password.",
                "Too many failed attempts. Wait %(num)d minutes, then try again, or ask an "
                "admin to reset your password.",
            ),
            {"Retry-After": str(wait)},
            num=minutes,
        )
    user = await registry.store.get_user(name) if name else None
    if not await check_password(user, password):
        await throttle.record_failure(registry.desk, attempt)
        return await again(
            401,
            N_("The user name or password is wrong. Check both and try again."),
            {"WWW-Authenticate": 'Session realm="ticker desk"'},
        )
    assert user is not None
    if user.disabled:
        return await again(403, N_("This account is disabled. Ask an admin to enable it again."))
    await throttle.record_success(registry.desk, attempt)
    response = redirect(next_path)
    devices.remember(request, response, user.name, secure=secure_cookie(request))
    previous = await registry.load(request)
    if previous is not None:  # another account logging in on this browser
        await registry.desk.end_session(previous.id, previous.user.name)
    await registry.start(request, response, user, draft=draft or None)
    return response


async def logout(request: Request) -> Response:
    form = await read_form(request)
    registry = services(request).sessions
    session = await registry.load(request)
    # Ending a session, or only clearing the cookie, needs proof that the desk's own
    # page asked: the session's token, or the browser saying it is the same origin.
    # Without it, another site's page could log an editor out.
    has_token = session is not None and csrf_matches(session.csrf, form.get(CSRF_FIELD))
    if not has_token and request_source(request.headers) is not Source.SAME_ORIGIN:
        raise DeskError(
            403,
            N_(
                "This form was out of date or sent from another site, so nothing "
                "changed. Go back, reload the page, and try again."
            ),
        )
    response = redirect("/desk/login?out=1")
    await registry.end(request, response)
    return response


async def password_form(request: Request) -> Response:
    session = await require_session(request)
    done = request.query_params.get("done") == "1"
    return render(
        request,
        "password.html",
        {"page": "password", "message": N_("Password changed.") if done else "", "kind": "info"},
        session=session,
    )


async def change_password(request: Request) -> Response:
    session, form = await require_post(request)
    current, new, again = form.get("current", ""), form.get("new", ""), form.get("again", "")
    errors: dict[str, tuple[Message, dict[str, object]]] = {}
    if not await check_password(session.user, current):
        errors["current"] = (N_("The current password is wrong."), {})
    weak = password_error(new)
    if weak:
        errors["new"] = weak
    elif new != again:
        errors["again"] = (N_("The two new passwords differ."), {})
    if errors:
        return render(
            request,
            "password.html",
            {
                "page": "password",
                "errors": errors,
                "message": N_("Fix the marked fields, then try again."),
                "kind": "error",
            },
            status=422,
            session=session,
        )
    registry = services(request).sessions
    updated = UserRecord(
        session.user.name,
        session.user.role,
        await run_in_threadpool(hash_password, new),
        session.user.channels,
        session.user.disabled,
        session.user.created_at,
    )
    await registry.store.save_user(
        updated, actor=session.principal.actor, audit={"action": "password"}
    )
    # Anyone else holding a session of this account is logged out; this one stays.
    await registry.desk.end_other_sessions(session.user.name, session.id)
    return redirect("/desk/password?done=1")


async def switch_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    if lang not in LANGS:
        raise DeskError(404, N_("Nothing here."))
    response = redirect(local_path(request.query_params.get("next"), "/desk/login"))
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/desk", samesite="lax")
    return response
