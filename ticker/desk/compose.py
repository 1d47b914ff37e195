"""The compose page and its live list, and the plain-form paths to publish, correct and
retract.

With JavaScript the page calls the JSON API instead (web/desk/); these handlers
are what works without it: POST, then a 303 redirect to a GET. Every failure
re-renders the form with the editor's text and a message saying what to do;
when Redis is down the page is rendered from the posted form alone.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from ticker import publishing
from ticker.auth.sessions import CSRF_FIELD, Session, csrf_matches
from ticker.desk.drafts import COMPOSE_FIELDS
from ticker.desk.errors import DeskError
from ticker.desk.forms import Form, read_form
from ticker.desk.i18n import N_, Message, Plural, translator
from ticker.desk.items import LIFETIME_HOURS, item_view, live_items, recently_ended
from ticker.desk.login import login_page
from ticker.desk.pages import redirect, render, require_csrf, require_post, require_session
from ticker.model import (
    CHANNEL_ID,
    EVENT_ID,
    ITEM_INPUT_FIELDS,
    TEXT_MAX,
    TTL_MAX,
    TTL_MIN,
    Channel,
    FieldError,
    Item,
    ItemInput,
    ValidationError,
    check_reason,
    normalise_text,
    whole_number,
)
from ticker.services import services
from ticker.store import Conflict, NotFound, Store
from ticker.store.desk import DeskStore

# The notice after a redirect, by its `done` query parameter.
DONE = {
    "published": N_("Published."),
    "already": N_("This form had already been published; the item was not published twice."),
    "corrected": N_("Corrected everywhere."),
    "retracted": N_("Retracted everywhere."),
    "gone": N_("This item is no longer live (it expired or was retracted)."),
}
TEXT_LONG = Plural(
    "The text is %(num)d character over 280.", "The text is %(num)d characters over 280."
)
FIELD_MESSAGES = {
    "url": N_("The link must be a full address starting with http:// or https://."),
    "priority": N_("Choose urgent or normal."),
    "reason": N_("Write the reason for the retraction (up to 280 characters)."),
}
REDIS_DOWN = (RedisError, ConnectionError)
UNAVAILABLE_HEADERS = {"Retry-After": "2"}


def new_key() -> str:
    """A fresh idempotency key per rendered form: a double click or a resubmitted
    form repeats it, so the item is published once."""
    return secrets.token_urlsafe(18)


async def allowed_channels(store: Store, session: Session) -> list[Channel]:
    return [c for c in await store.channels() if session.principal.allows(c.id)]


def field_errors(errors: list[FieldError], text: str) -> dict[str, tuple[Message, dict[str, Any]]]:
    """Model errors as desk messages: (message, parameters) per form field."""
    out: dict[str, tuple[Message, dict[str, Any]]] = {}
    for e in errors:
        if e.field == "text":
            over = len(normalise_text(text)) - TEXT_MAX
            out["text"] = (
                (TEXT_LONG, {"num": over})
                if over > 0
                else (N_("Write a text of 1 to 280 characters."), {})
            )
        elif e.field == "ttl_seconds":
            out["ttl_seconds"] = (N_("Choose a lifetime from the list."), {})
        elif e.field in ("url", "priority", "reason"):
            out[e.field] = (FIELD_MESSAGES[e.field], {})
    return out


def _form(data: Form) -> dict[str, str]:
    return {k: data.get(k, "") for k in COMPOSE_FIELDS}


def _default_form(channels: list[Channel], wanted: str | None) -> dict[str, str]:
    channel = next((c for c in channels if c.id == wanted), channels[0] if channels else None)
    ttl = 6 * 3600
    if channel is not None and channel.default_ttl_seconds // 3600 in LIFETIME_HOURS:
        ttl = channel.default_ttl_seconds
    return {
        "text": "",
        "url": "",
        "channel": channel.id if channel else "",
        "priority": "urgent",
        "ttl_seconds": str(ttl),
        "idempotency_key": "",
    }


def _render_form(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int,
    session: Session | None,
    csrf: str | None,
) -> Response:
    """A page with an item form. `csrf`, when given, is the token to post it with (the one
    the form came with, when Redis is down and there is no session to take it from); a 503
    says when to try again."""
    if csrf is not None:
        context["csrf"] = csrf
    headers = UNAVAILABLE_HEADERS if status == 503 else None
    return render(request, template, context, status=status, headers=headers, session=session)


def _item_input(body: dict[str, Any], ttl: str, *, partial: bool) -> ItemInput | list[FieldError]:
    """The item the form asks for, or every field that is wrong with it; `ttl` is the
    form's lifetime in seconds ("" for none)."""
    errors: list[FieldError] = []
    if ttl:
        seconds = whole_number(ttl, TTL_MIN, TTL_MAX)
        if seconds is None:
            errors.append(FieldError("ttl_seconds", "must be a whole number of seconds"))
        else:
            body["ttl_seconds"] = seconds
    try:
        inp = ItemInput.parse(body, partial=partial)
    except ValidationError as exc:
        return errors + exc.errors
    return errors or inp


async def render_compose(
    request: Request,
    session: Session | None,
    form: dict[str, str],
    *,
    status: int = 200,
    message: str = "",
    message_params: dict[str, Any] | None = None,
    kind: str = "info",
    errors: dict[str, tuple[Message, dict[str, Any]]] | None = None,
    degraded: bool = False,
    csrf: str | None = None,
) -> Response:
    t = translator(request)
    store = services(request).store
    channels: list[Channel] = []
    items: list[Any] = []
    ended: list[Any] = []
    if not degraded and session is not None:
        try:
            channels = await allowed_channels(store, session)
            items = await live_items(store, channels, t)
            ended = await recently_ended(DeskStore(store), channels, t.lang)
        except REDIS_DOWN:
            degraded = True
    if degraded and not channels and CHANNEL_ID.match(form.get("channel", "")):
        # Redis is down: offer the channel the form was posted to, so it can be sent again.
        channels = [Channel(id=form["channel"], title=form["channel"])]
    if not form.get("idempotency_key"):
        form = {**form, "idempotency_key": new_key()}
    context: dict[str, Any] = {
        "page": "compose",
        "form": form,
        "errors": errors or {},
        "message": message,
        "message_params": message_params or {},
        "kind": kind,
        "channels": channels,
        "channels_json": [c.to_json() for c in channels],
        "items": items,
        "ended": ended,
        "lifetimes": LIFETIME_HOURS,
        "degraded": degraded,
    }
    return _render_form(request, "compose.html", context, status=status, session=session, csrf=csrf)


async def compose_page(request: Request) -> Response:
    session = await require_session(request)
    registry = services(request).sessions
    channels = await allowed_channels(registry.store, session)
    form = _default_form(channels, request.query_params.get("channel"))
    draft = await registry.take_draft(session)
    if draft:
        form.update({k: v for k, v in draft.items() if k in COMPOSE_FIELDS})
    done = request.query_params.get("done", "")
    message = DONE.get(done, "")
    if not channels:
        return await render_compose(
            request,
            session,
            form,
            message=N_("There is no channel you may publish on. Ask an admin to give you one."),
            kind="error",
        )
    return await render_compose(request, session, form, message=message, kind="info")


async def publish_form(request: Request) -> Response:
    data = await read_form(request)
    form = _form(data)
    try:
        session = await services(request).sessions.load(request)
    except REDIS_DOWN:
        if not await _own_form(request, data):
            raise  # the desk's 503 page, echoing nothing
        return await _unavailable(request, None, form, data.get("csrf", ""))
    if session is None:
        if await _own_form(request, data):
            # The text goes back into the login form and, after it, into this one.
            return await login_page(
                request,
                status=401,
                message=N_(
                    "Your session had ended, so nothing was published. Log in again and "
                    "your text will be back in the form."
                ),
                draft=form,
            )
        # Never echo a form that may be another site's: no text, no link.
        return await login_page(
            request, status=401, message=N_("Your session has ended. Please log in again.")
        )
    require_csrf(session, data)
    try:
        return await _publish(request, session, form)
    except REDIS_DOWN:
        return await _unavailable(request, session, form, session.csrf)


async def _own_form(request: Request, data: Form) -> bool:
    """Whether a form posted without a live session was rendered by the desk for the
    session this browser held (ticker/desk/drafts.py): only then is its text shown again.
    With Redis down this works from the signing key the process already holds."""
    registry = services(request).sessions
    try:
        session_id = await registry.cookie_session_id(request)
        if session_id is None:
            return False
        return csrf_matches(await registry.csrf_for(session_id), data.get(CSRF_FIELD))
    except REDIS_DOWN:
        return False


async def _unavailable(
    request: Request, session: Session | None, form: dict[str, str], csrf: str
) -> Response:
    return await render_compose(
        request,
        session,
        form,
        status=503,
        message=N_(
            "The ticker's database (Redis) cannot be reached right now; nothing was "
            "changed. Your text is kept here: try again in a few seconds."
        ),
        kind="error",
        degraded=True,
        csrf=csrf,
    )


async def _publish(request: Request, session: Session, form: dict[str, str]) -> Response:
    async def again(
        status: int,
        message: str,
        *,
        message_params: dict[str, Any] | None = None,
        errors: dict[str, tuple[Message, dict[str, Any]]] | None = None,
    ) -> Response:
        return await render_compose(
            request,
            session,
            form,
            status=status,
            message=message,
            message_params=message_params,
            kind="error",
            errors=errors,
        )

    store = services(request).store
    channel_id = form["channel"]
    channel = await store.get_channel(channel_id) if CHANNEL_ID.match(channel_id) else None
    if channel is None:
        return await again(
            422,
            N_("Fix the marked fields, then try again."),
            errors={"channel": (N_("Choose a channel."), {})},
        )
    if not session.principal.allows(channel.id):
        return await again(
            403,
            N_(
                "You may not publish on channel “%(channel)s”. Pick another channel or "
                "ask an admin."
            ),
            message_params={"channel": channel.id},
        )
    body: dict[str, Any] = {"text": form["text"], "priority": form["priority"] or "urgent"}
    if form["url"].strip():
        body["url"] = form["url"]
    inp = _item_input(body, form["ttl_seconds"], partial=False)
    if isinstance(inp, list):
        return await again(
            422,
            N_("Fix the marked fields, then try again."),
            errors=field_errors(inp, form["text"]),
        )
    key = form["idempotency_key"]
    if not 1 <= len(key) <= 255:
        key = new_key()
    try:
        outcome = await publishing.publish(store, channel, inp, session.principal.actor, key)
    except publishing.IdempotencyMismatch:
        return await render_compose(
            request,
            session,
            {**form, "idempotency_key": ""},
            status=422,
            message=N_(
                "This form was already used to publish a different item. Check the text "
                "and publish again."
            ),
            kind="error",
        )
    except NotFound:
        raise DeskError(404, N_("There is no channel “%(channel)s”."), channel=channel.id) from None
    done = "published" if outcome.created else "already"
    return redirect(f"/desk/compose?channel={channel.id}&done={done}")


# Correcting and retracting without JavaScript: a page per item.


async def _item(request: Request, session: Session) -> tuple[Channel, Item | None]:
    store = services(request).store
    channel_id, item_id = request.path_params["channel"], request.path_params["item_id"]
    channel = await store.get_channel(channel_id) if CHANNEL_ID.match(channel_id) else None
    if channel is None:
        raise DeskError(404, N_("There is no channel “%(channel)s”."), channel=channel_id)
    if not session.principal.allows(channel.id):
        raise DeskError(
            403,
            N_(
                "You may not publish on channel “%(channel)s”. Pick another channel or "
                "ask an admin."
            ),
            channel=channel.id,
        )
    if not EVENT_ID.match(item_id):
        return channel, None
    return channel, await store.get_item(channel.id, item_id)


def _gone(channel: Channel) -> Response:
    return redirect(f"/desk/compose?channel={channel.id}&done=gone")


def _edit_page(
    request: Request,
    session: Session | None,
    channel: Channel,
    item_id: str,
    item: Item | None,
    form: dict[str, str],
    *,
    status: int = 200,
    message: str = "",
    errors: dict[str, tuple[Message, dict[str, Any]]] | None = None,
    csrf: str | None = None,
) -> Response:
    """The correction page of item `item_id`; `item` None when Redis is down (the page
    then shows the posted form alone)."""
    context: dict[str, Any] = {
        "page": "edit",
        "channel": channel,
        "item": None if item is None else item_view(item, channel, translator(request)),
        "item_id": item_id,
        "form": form,
        "errors": errors or {},
        "message": message,
        "kind": "error",
        "lifetimes": LIFETIME_HOURS,
    }
    return _render_form(request, "edit.html", context, status=status, session=session, csrf=csrf)


async def edit_page(request: Request) -> Response:
    session = await require_session(request)
    channel, item = await _item(request, session)
    if item is None:
        return _gone(channel)
    form = {"text": item.text, "url": item.url or "", "priority": item.priority, "ttl_seconds": ""}
    return _edit_page(request, session, channel, item.id, item, form)


async def edit_item(request: Request) -> Response:
    data = await read_form(request)
    form = {k: data.get(k, "") for k in ITEM_INPUT_FIELDS}
    channel_id, item_id = request.path_params["channel"], request.path_params["item_id"]

    def unavailable(session: Session | None, csrf: str | None = None) -> Response:
        # Redis is down: the page from the path and the posted form alone.
        fallback = Channel(id=channel_id, title=channel_id)
        return _edit_page(
            request,
            session,
            fallback,
            item_id,
            None,
            form,
            status=503,
            message=N_(
                "The ticker's database (Redis) cannot be reached right now; nothing was "
                "changed. Your text is kept here: try again in a few seconds."
            ),
            csrf=csrf,
        )

    try:
        session = await services(request).sessions.load(request)
    except REDIS_DOWN:
        if not await _own_form(request, data):
            raise  # the desk's 503 page, echoing nothing
        return unavailable(None, data.get("csrf", ""))
    if session is None:
        return await login_page(
            request, status=401, message=N_("Your session has ended. Please log in again.")
        )
    require_csrf(session, data)
    try:
        channel, item = await _item(request, session)
        if item is None:
            return _gone(channel)
        body: dict[str, Any] = {
            "text": form["text"],
            "url": form["url"] or None,
            "priority": form["priority"] or item.priority,
        }
        inp = _item_input(body, form["ttl_seconds"], partial=True)
        if isinstance(inp, list):
            return _edit_page(
                request,
                session,
                channel,
                item.id,
                item,
                form,
                status=422,
                message=N_("Fix the marked fields, then try again."),
                errors=field_errors(inp, form["text"]),
            )
        try:
            await publishing.correct(
                services(request).store, channel, item_id, inp, session.principal.actor
            )
        except NotFound:
            return _gone(channel)
        except Conflict:
            return _edit_page(
                request,
                session,
                channel,
                item.id,
                item,
                form,
                status=409,
                message=N_("That did not work"),
            )
    except REDIS_DOWN:
        return unavailable(session)
    return redirect(f"/desk/compose?channel={channel.id}&done=corrected")


def _retract_page(
    request: Request,
    session: Session,
    channel: Channel,
    item: Item,
    reason: str = "",
    *,
    status: int = 200,
    error: bool = False,
) -> Response:
    return render(
        request,
        "retract.html",
        {
            "page": "retract",
            "channel": channel,
            "item": item_view(item, channel, translator(request)),
            "reason": reason,
            "errors": {
                "reason": (N_("Write the reason for the retraction (up to 280 characters)."), {})
            }
            if error
            else {},
            "message": N_("Fix the marked fields, then try again.") if error else "",
            "kind": "error",
        },
        status=status,
        session=session,
    )


async def retract_page(request: Request) -> Response:
    session = await require_session(request)
    channel, item = await _item(request, session)
    if item is None:
        return _gone(channel)
    return _retract_page(request, session, channel, item)


async def retract_item(request: Request) -> Response:
    session, data = await require_post(request)
    channel, item = await _item(request, session)
    if item is None:
        return _gone(channel)
    raw_reason = data.get("reason", "")
    try:
        reason = check_reason(raw_reason)
    except FieldError:
        reason = None
    if not reason:
        return _retract_page(request, session, channel, item, raw_reason, status=422, error=True)
    try:
        await publishing.retract(
            services(request).store, channel, item.id, reason, session.principal.actor
        )
    except NotFound:
        return _gone(channel)
    return redirect(f"/desk/compose?channel={channel.id}&done=retracted")


async def keepalive(request: Request) -> Response:
    """The page's script calls this while the editor types: typing is activity, so the
    idle timeout restarts (and the script learns early that a session has ended)."""
    session = await services(request).sessions.load(request)
    return Response(
        json.dumps({"active": session is not None}),
        status_code=200 if session else 401,
        media_type="application/json",
    )
