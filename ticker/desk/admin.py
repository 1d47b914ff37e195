"""Admin pages: channels, users and API tokens.

Every change is recorded in the audit stream with the admin's name: channel
saves by their Lua script, user saves by theirs (which also ends a disabled
user's sessions in the same step), token changes here. What makes a field valid
is ticker/model.py's; this module says it in the desk's words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ticker.auth.sessions import Session
from ticker.auth.users import hash_password
from ticker.desk.errors import DeskError
from ticker.desk.forms import Form
from ticker.desk.i18n import N_, Message
from ticker.desk.pages import redirect, render, require_admin, require_post
from ticker.desk.passwords import password_error
from ticker.model import (
    CHANNEL_ID,
    ROLES,
    Channel,
    FieldError,
    ValidationError,
    check_account_name,
    check_role,
    normalise_text,
    rfc3339,
    utc_now,
    whole_number,
)
from ticker.services import services
from ticker.store import Store, UserRecord
from ticker.store.desk import DeskStore

CHANNEL_TTL_HOURS = (1, 3, 6, 12, 24, 48, 72, 168)
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

Errors = dict[str, tuple[Message, dict[str, Any]]]

# A model error, by field, in the desk's words.
CHANNEL_MESSAGES = {
    "id": N_(
        "Id: lower-case letters, digits and dashes, starting with a letter or digit, up to 32."
    ),
    "title": N_("Write a title (up to 100 characters)."),
    "lang": N_("A language code such as ar or en."),
    "timezone": N_("A known time zone such as Asia/Beirut."),
    "default_ttl_seconds": N_("Choose a lifetime from the list."),
}
NAME_MESSAGE = N_("Name: letters, digits, dots, dashes and underscores, up to 64.")


def _actor(session: Session) -> str:
    return session.principal.actor


async def _selected_channels(form: Form, store: Store) -> list[str]:
    known = {c.id for c in await store.channels()}
    return sorted({c for c in form.getlist("channels") if c in known})


# What each admin page shows besides the form: loaded afresh for every render.


async def _channels_data(store: Store) -> dict[str, Any]:
    return {
        "channels": await store.channels(),
        "ttl_hours": CHANNEL_TTL_HOURS,
        "timezones": TIMEZONES,
        "editing": "",  # the channel whose form shows the posted values and errors
    }


async def _users_data(store: Store) -> dict[str, Any]:
    return {"users": await store.list_users(), "channels": await store.channels(), "roles": ROLES}


async def _tokens_data(store: Store) -> dict[str, Any]:
    return {"tokens": await store.list_tokens(), "channels": await store.channels()}


# Page name (and template admin_<page>.html): its data, and its empty form.
_PAGES: dict[str, tuple[Callable[[Store], Awaitable[dict[str, Any]]], dict[str, Any]]] = {
    "channels": (_channels_data, {"lang": "ar", "timezone": "Asia/Beirut", "ttl_hours": "6"}),
    "users": (_users_data, {"role": "editor", "channels": []}),
    "tokens": (_tokens_data, {"channels": []}),
}


async def _admin_page(
    request: Request,
    session: Session,
    page: str,
    *,
    status: int = 200,
    message: Message = "",
    message_params: dict[str, Any] | None = None,
    kind: str = "info",
    errors: Errors | None = None,
    form: dict[str, Any] | None = None,
    editing: str | None = None,
) -> Response:
    """An admin page (see `_PAGES`); `editing`, on the channels page, names the channel
    whose form shows the posted values and errors."""
    load, empty_form = _PAGES[page]
    data = await load(services(request).store)
    if editing is not None:
        data["editing"] = editing
    return render(
        request,
        f"admin_{page}.html",
        {
            "page": page,
            **data,
            "message": message,
            "message_params": message_params or {},
            "kind": kind,
            "errors": errors or {},
            "form": form or empty_form,
        },
        status=status,
        session=session,
    )


async def _invalid(
    request: Request,
    session: Session,
    page: str,
    errors: Errors,
    form: dict[str, Any],
    editing: str | None = None,
) -> Response:
    """The page again, with the posted form and what is wrong with it."""
    return await _admin_page(
        request,
        session,
        page,
        status=422,
        message=N_("Fix the marked fields, then try again."),
        kind="error",
        errors=errors,
        form=form,
        editing=editing,
    )


# Channels


def _channel_fields(form: Form, channel_id: str) -> tuple[dict[str, str], Channel | None, Errors]:
    """The posted values (to show again), the channel they make, and what is wrong."""
    values = {
        "title": normalise_text(form.get("title", "")),
        "lang": form.get("lang", "").strip(),
        "timezone": form.get("timezone", "").strip(),
        "ttl_hours": form.get("ttl_hours", "").strip(),
    }
    hours = whole_number(values["ttl_hours"], 1, max(CHANNEL_TTL_HOURS))
    try:
        channel = Channel.parse(
            id=channel_id,
            title=values["title"],
            lang=values["lang"],
            timezone=values["timezone"],
            # Off the list: no lifetime, which the model refuses for that field.
            default_ttl_seconds=hours * 3600 if hours in CHANNEL_TTL_HOURS else None,
        )
    except ValidationError as exc:
        errors: Errors = {}
        for e in exc.errors:
            field = "ttl_hours" if e.field == "default_ttl_seconds" else e.field
            errors[field] = (CHANNEL_MESSAGES[e.field], {})
        return values, None, errors
    return values, channel, {}


async def channels_page(request: Request) -> Response:
    session = await require_admin(request)
    done = request.query_params.get("done") == "1"
    return await _admin_page(request, session, "channels", message=N_("Saved.") if done else "")


async def _save_channel(store: Store, session: Session, channel: Channel) -> Response:
    await store.save_channel(channel, actor=_actor(session))
    return redirect("/desk/admin/channels?done=1")


async def add_channel(request: Request) -> Response:
    session, form = await require_post(request, admin=True)
    store = services(request).store
    channel_id = form.get("id", "").strip()
    values, channel, errors = _channel_fields(form, channel_id)
    if channel is not None and await store.get_channel(channel_id) is not None:
        errors["id"] = (N_("Channel “%(channel)s” already exists."), {"channel": channel_id})
    if channel is None or errors:
        return await _invalid(request, session, "channels", errors, {"id": channel_id, **values})
    return await _save_channel(store, session, channel)


async def edit_channel(request: Request) -> Response:
    session, form = await require_post(request, admin=True)
    store = services(request).store
    channel_id = request.path_params["channel"]
    old = await store.get_channel(channel_id) if CHANNEL_ID.match(channel_id) else None
    if old is None:
        raise DeskError(404, N_("There is no channel “%(channel)s”."), channel=channel_id)
    values, channel, errors = _channel_fields(form, old.id)
    if channel is None:
        return await _invalid(
            request, session, "channels", errors, {"id": channel_id, **values}, editing=channel_id
        )
    return await _save_channel(store, session, channel)


# Users

USER_DONE = {
    "added": N_("Added “%(name)s”."),
    "disabled_done": N_("“%(name)s” is disabled and their open sessions have ended."),
    "enabled_done": N_("“%(name)s” is enabled."),
    "reset_done": N_("“%(name)s” has a new password; their open sessions have ended."),
}


def _done(request: Request) -> tuple[str, dict[str, Any]]:
    q = request.query_params
    key = q.get("done", "")
    if key in USER_DONE:
        return USER_DONE[key], {"name": q.get("name", "")}
    if key == "saved":
        return N_("Saved."), {}
    return "", {}


async def users_page(request: Request) -> Response:
    session = await require_admin(request)
    message, params = _done(request)
    return await _admin_page(request, session, "users", message=message, message_params=params)


def _valid(check: Callable[[str], str], value: str) -> bool:
    try:
        check(value)
    except FieldError:
        return False
    return True


async def add_user(request: Request) -> Response:
    session, form = await require_post(request, admin=True)
    store = services(request).store
    name = form.get("name", "").strip()
    role = form.get("role", "")
    password = form.get("password", "")
    channels = await _selected_channels(form, store)
    errors: Errors = {}
    if not _valid(check_account_name, name):
        errors["name"] = (NAME_MESSAGE, {})
    elif await store.get_user(name) is not None:
        errors["name"] = (N_("There is already a user “%(name)s”."), {"name": name})
    if not _valid(check_role, role):
        errors["role"] = (N_("Choose a role."), {})
    weak = password_error(password)
    if weak:
        errors["password"] = weak
    if errors:
        return await _invalid(
            request, session, "users", errors, {"name": name, "role": role, "channels": channels}
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


async def change_user(request: Request) -> Response:
    session, form = await require_post(request, admin=True)
    store = services(request).store
    name = request.path_params["name"]
    user = await store.get_user(name)
    if user is None:
        raise DeskError(404, N_("There is no user “%(name)s”."), name=name)
    action = form.get("action", "")
    is_self = user.name == session.user.name
    if action == "disable":
        if is_self:
            return await _not_self(request, session)
        await _save(
            store, user, session, disabled=True, end_sessions=True, audit={"action": "disable"}
        )
        return redirect(f"/desk/admin/users?done=disabled_done&name={quote(name)}")
    if action == "enable":
        await _save(store, user, session, disabled=False, audit={"action": "enable"})
        return redirect(f"/desk/admin/users?done=enabled_done&name={quote(name)}")
    if action == "password":
        password = form.get("password", "")
        weak = password_error(password)
        if weak:
            message, params = weak
            return await _admin_page(
                request,
                session,
                "users",
                status=422,
                message=message,
                message_params=params,
                kind="error",
                errors={f"password-{name}": weak},
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
        if not _valid(check_role, role):
            raise DeskError(422, N_("Choose a role."))
        if is_self and role != "admin":
            return await _not_self(request, session)
        channels = await _selected_channels(form, store)
        await _save(
            store,
            user,
            session,
            role=role,
            channels=channels,
            audit={"action": "change", "role": role, "channels": channels},
        )
        return redirect("/desk/admin/users?done=saved")
    raise DeskError(400, N_("The form could not be read."))


async def _not_self(request: Request, session: Session) -> Response:
    """An admin may not disable their own account nor take away their own admin role."""
    return await _admin_page(
        request,
        session,
        "users",
        status=409,
        message=N_("You cannot disable your own account or take away your own admin role."),
        kind="error",
    )


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


async def tokens_page(request: Request) -> Response:
    session = await require_admin(request)
    revoked = request.query_params.get("revoked", "")
    if revoked:
        return await _admin_page(
            request,
            session,
            "tokens",
            message=N_("Revoked token “%(name)s”."),
            message_params={"name": revoked},
        )
    return await _admin_page(request, session, "tokens")


async def create_token(request: Request) -> Response:
    session, form = await require_post(request, admin=True)
    store = services(request).store
    name = form.get("name", "").strip()
    channels = await _selected_channels(form, store)
    errors: Errors = {}
    if not _valid(check_account_name, name):
        errors["name"] = (NAME_MESSAGE, {})
    if not errors:
        try:
            token = await store.create_token(name, channels, rfc3339(utc_now()))
        except ValueError:
            errors["name"] = (N_("There is already a token “%(name)s”."), {"name": name})
    if errors:
        return await _invalid(
            request, session, "tokens", errors, {"name": name, "channels": channels}
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


async def revoke_token(request: Request) -> Response:
    session, _ = await require_post(request, admin=True)
    store = services(request).store
    name = request.path_params["name"]
    if not await store.revoke_token(name):
        raise DeskError(404, N_("Nothing here."))
    await DeskStore(store).record("token", _actor(session), name, {"action": "revoke"})
    return redirect(f"/desk/admin/tokens?revoked={quote(name)}")
