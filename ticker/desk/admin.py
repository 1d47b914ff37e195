"""Admin pages: channels, users and API tokens (issue 3, item 4).

Every change is recorded in the audit stream with the admin's name: channel
saves by their Lua script, user saves by theirs (which also ends a disabled
user's sessions in the same step), token changes here.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ticker.auth import ROLES, hash_password
from ticker.desk.errors import DeskError
from ticker.desk.forms import Form, read_form
from ticker.desk.pages import desk_page, redirect, render, require_admin, require_csrf
from ticker.desk.sessions import Session
from ticker.model import (
    CHANNEL_ID,
    Channel,
    FieldError,
    check_channel_id,
    check_timezone,
    normalise_text,
    rfc3339,
    utc_now,
)
from ticker.routes.common import services
from ticker.store import Store, UserRecord
from ticker.store.desk import DeskStore

CHANNEL_TTL_HOURS = (1, 3, 6, 12, 24, 48, 72, 168)
LANG_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TITLE_MAX = 100
PASSWORD_MIN = 8
TIMEZONES = (
    "Asia/Beirut",
    "Asia/Damascus",
    "Asia/Amman",
    "Asia/Baghdad",
    "Asia/Riyadh",
    "Asia/Dubai",
    "Asia/Qatar",
    "Asia/Kuwait",
    "Africa/Cairo",
    "Africa/Tunis",
    "Africa/Algiers",
    "Africa/Casablanca",
    "Europe/London",
    "Europe/Paris",
    "UTC",
)

Errors = dict[str, tuple[str, dict[str, Any]]]


def _actor(session: Session) -> str:
    return f"user:{session.user.name}"


def _selected_channels(form: Form, known: set[str]) -> list[str]:
    return sorted({c for c in form.getlist("channels") if c in known})


# Channels


def _channel_fields(form: Form) -> tuple[dict[str, str], Errors]:
    values = {
        "title": normalise_text(form.get("title", "")),
        "lang": form.get("lang", "").strip(),
        "timezone": form.get("timezone", "").strip(),
        "ttl_hours": form.get("ttl_hours", "").strip(),
    }
    errors: Errors = {}
    if not 1 <= len(values["title"]) <= TITLE_MAX:
        errors["title"] = ("field.title", {})
    if not LANG_TAG.match(values["lang"]):
        errors["lang"] = ("field.lang", {})
    try:
        check_timezone(values["timezone"])
    except FieldError:
        errors["timezone"] = ("field.timezone", {})
    if not values["ttl_hours"].isdigit() or int(values["ttl_hours"]) not in CHANNEL_TTL_HOURS:
        errors["ttl_hours"] = ("field.ttl", {})
    return values, errors


async def _channels_page(
    request: Request,
    session: Session,
    *,
    status: int = 200,
    message: str = "",
    message_params: dict[str, Any] | None = None,
    kind: str = "info",
    errors: Errors | None = None,
    form: dict[str, str] | None = None,
    editing: str = "",
) -> Response:
    channels = await services(request).store.channels()
    return render(
        request,
        "admin_channels.html",
        {
            "page": "channels",
            "channels": channels,
            "ttl_hours": CHANNEL_TTL_HOURS,
            "timezones": TIMEZONES,
            "message": message,
            "message_params": message_params or {},
            "kind": kind,
            "errors": errors or {},
            "form": form or {"lang": "ar", "timezone": "Asia/Beirut", "ttl_hours": "6"},
            "editing": editing,
        },
        status=status,
        session=session,
    )


@desk_page
async def channels_page(request: Request) -> Response:
    session = await require_admin(request)
    done = request.query_params.get("done") == "1"
    return await _channels_page(request, session, message="done.saved" if done else "")


@desk_page
async def add_channel(request: Request) -> Response:
    session = await require_admin(request)
    form = await read_form(request)
    require_csrf(session, form)
    store = services(request).store
    channel_id = form.get("id", "").strip()
    values, errors = _channel_fields(form)
    try:
        check_channel_id(channel_id)
    except FieldError:
        errors["id"] = ("field.channel_id", {})
    if not errors and await store.get_channel(channel_id) is not None:
        errors["id"] = ("channels.exists", {"channel": channel_id})
    if errors:
        return await _channels_page(
            request,
            session,
            status=422,
            message="error.fields",
            kind="error",
            errors=errors,
            form={"id": channel_id, **values},
        )
    await store.save_channel(
        Channel(
            id=channel_id,
            title=values["title"],
            lang=values["lang"],
            timezone=values["timezone"],
            default_ttl_seconds=int(values["ttl_hours"]) * 3600,
        ),
        actor=_actor(session),
    )
    return redirect("/desk/admin/channels?done=1")


@desk_page
async def edit_channel(request: Request) -> Response:
    session = await require_admin(request)
    form = await read_form(request)
    require_csrf(session, form)
    store = services(request).store
    channel_id = request.path_params["channel"]
    old = await store.get_channel(channel_id) if CHANNEL_ID.match(channel_id) else None
    if old is None:
        raise DeskError(404, "error.unknown_channel", channel=channel_id)
    values, errors = _channel_fields(form)
    if errors:
        return await _channels_page(
            request,
            session,
            status=422,
            message="error.fields",
            kind="error",
            errors=errors,
            form={"id": channel_id, **values},
            editing=channel_id,
        )
    await store.save_channel(
        Channel(
            id=old.id,
            title=values["title"],
            lang=values["lang"],
            timezone=values["timezone"],
            default_ttl_seconds=int(values["ttl_hours"]) * 3600,
        ),
        actor=_actor(session),
    )
    return redirect("/desk/admin/channels?done=1")


# Users


async def _users_page(
    request: Request,
    session: Session,
    *,
    status: int = 200,
    message: str = "",
    message_params: dict[str, Any] | None = None,
    kind: str = "info",
    errors: Errors | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    store = services(request).store
    return render(
        request,
        "admin_users.html",
        {
            "page": "users",
            "users": await store.list_users(),
            "channels": await store.channels(),
            "roles": ROLES,
            "message": message,
            "message_params": message_params or {},
            "kind": kind,
            "errors": errors or {},
            "form": form or {"role": "editor", "channels": []},
        },
        status=status,
        session=session,
    )


def _done(request: Request) -> tuple[str, dict[str, Any]]:
    q = request.query_params
    key = q.get("done", "")
    if key in ("added", "disabled_done", "enabled_done", "reset_done"):
        return f"users.{key}", {"name": q.get("name", "")}
    if key == "saved":
        return "done.saved", {}
    return "", {}


@desk_page
async def users_page(request: Request) -> Response:
    session = await require_admin(request)
    message, params = _done(request)
    return await _users_page(request, session, message=message, message_params=params)


@desk_page
async def add_user(request: Request) -> Response:
    session = await require_admin(request)
    form = await read_form(request)
    require_csrf(session, form)
    store = services(request).store
    name = form.get("name", "").strip()
    role = form.get("role", "")
    password = form.get("password", "")
    channels = _selected_channels(form, {c.id for c in await store.channels()})
    errors: Errors = {}
    if not NAME.match(name):
        errors["name"] = ("field.user_name", {})
    elif await store.get_user(name) is not None:
        errors["name"] = ("users.exists", {"name": name})
    if role not in ROLES:
        errors["role"] = ("field.role", {})
    if len(password) < PASSWORD_MIN:
        errors["password"] = ("field.password", {})
    if errors:
        return await _users_page(
            request,
            session,
            status=422,
            message="error.fields",
            kind="error",
            errors=errors,
            form={"name": name, "role": role, "channels": channels},
        )
    user = UserRecord(
        name,
        role,
        await run_in_threadpool(hash_password, password),
        channels,
        created_at=rfc3339(utc_now()),
    )
    await store.save_user(
        user,
        actor=_actor(session),
        audit={"action": "add", "role": role, "channels": channels},
    )
    return redirect(f"/desk/admin/users?done=added&name={quote(name)}")


@desk_page
async def change_user(request: Request) -> Response:
    session = await require_admin(request)
    form = await read_form(request)
    require_csrf(session, form)
    store = services(request).store
    name = request.path_params["name"]
    user = await store.get_user(name)
    if user is None:
        raise DeskError(404, "users.no_such", name=name)
    action = form.get("action", "")
    is_self = user.name == session.user.name
    if action == "disable":
        if is_self:
            return await _users_page(
                request, session, status=409, message="users.self", kind="error"
            )
        await _save(
            store, user, session, disabled=True, end_sessions=True, audit={"action": "disable"}
        )
        return redirect(f"/desk/admin/users?done=disabled_done&name={quote(name)}")
    if action == "enable":
        await _save(store, user, session, disabled=False, audit={"action": "enable"})
        return redirect(f"/desk/admin/users?done=enabled_done&name={quote(name)}")
    if action == "password":
        password = form.get("password", "")
        if len(password) < PASSWORD_MIN:
            return await _users_page(
                request,
                session,
                status=422,
                message="field.password",
                kind="error",
                errors={f"password-{name}": ("field.password", {})},
            )
        new_hash = await run_in_threadpool(hash_password, password)
        await _save(
            store,
            user,
            session,
            password_hash=new_hash,
            end_sessions=not is_self,
            audit={"action": "reset password"},
        )
        return redirect(f"/desk/admin/users?done=reset_done&name={quote(name)}")
    if action == "save":
        role = form.get("role", "")
        if role not in ROLES:
            raise DeskError(422, "field.role")
        if is_self and role != "admin":
            return await _users_page(
                request, session, status=409, message="users.self", kind="error"
            )
        channels = _selected_channels(form, {c.id for c in await store.channels()})
        await _save(
            store,
            user,
            session,
            role=role,
            channels=channels,
            audit={"action": "change", "role": role, "channels": channels},
        )
        return redirect("/desk/admin/users?done=saved")
    raise DeskError(400, "error.bad_form")


async def _save(
    store: Store,
    user: UserRecord,
    session: Session,
    *,
    audit: dict[str, Any],
    end_sessions: bool = False,
    **changes: Any,
) -> None:
    await store.save_user(
        replace(user, **changes), end_sessions=end_sessions, actor=_actor(session), audit=audit
    )


# Tokens


async def _tokens_page(
    request: Request,
    session: Session,
    *,
    status: int = 200,
    message: str = "",
    message_params: dict[str, Any] | None = None,
    kind: str = "info",
    errors: Errors | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    store = services(request).store
    return render(
        request,
        "admin_tokens.html",
        {
            "page": "tokens",
            "tokens": await store.list_tokens(),
            "channels": await store.channels(),
            "message": message,
            "message_params": message_params or {},
            "kind": kind,
            "errors": errors or {},
            "form": form or {"channels": []},
        },
        status=status,
        session=session,
    )


@desk_page
async def tokens_page(request: Request) -> Response:
    session = await require_admin(request)
    revoked = request.query_params.get("revoked", "")
    if revoked:
        return await _tokens_page(
            request, session, message="tokens.revoked", message_params={"name": revoked}
        )
    return await _tokens_page(request, session)


@desk_page
async def create_token(request: Request) -> Response:
    session = await require_admin(request)
    form = await read_form(request)
    require_csrf(session, form)
    store = services(request).store
    name = form.get("name", "").strip()
    channels = _selected_channels(form, {c.id for c in await store.channels()})
    errors: Errors = {}
    if not NAME.match(name):
        errors["name"] = ("field.user_name", {})
    if not errors:
        try:
            token = await store.create_token(name, channels, rfc3339(utc_now()))
        except ValueError:
            errors["name"] = ("tokens.exists", {"name": name})
    if errors:
        return await _tokens_page(
            request,
            session,
            status=422,
            message="error.fields",
            kind="error",
            errors=errors,
            form={"name": name, "channels": channels},
        )
    await DeskStore(store).record(
        "token", _actor(session), name, {"action": "create", "channels": channels}
    )
    # Shown in this response only (Cache-Control: no-store); never stored in clear.
    return render(
        request,
        "token_created.html",
        {"page": "tokens", "name": name, "token": token, "channels": channels},
        status=201,
        session=session,
    )


@desk_page
async def revoke_token(request: Request) -> Response:
    session = await require_admin(request)
    form = await read_form(request)
    require_csrf(session, form)
    store = services(request).store
    name = request.path_params["name"]
    if not await store.revoke_token(name):
        raise DeskError(404, "error.not_found")
    await DeskStore(store).record("token", _actor(session), name, {"action": "revoke"})
    return redirect(f"/desk/admin/tokens?revoked={quote(name)}")
