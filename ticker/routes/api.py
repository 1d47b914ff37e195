"""The JSON API: channels, the items snapshot, and publishing (docs/api.md)."""

from __future__ import annotations

import hashlib

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ticker import publishing
from ticker.auth import authenticate, require_channel
from ticker.http import PUBLIC_HEADERS, not_modified
from ticker.model import (
    EVENT_ID,
    IDEMPOTENCY_KEY_MAX,
    FieldError,
    ItemInput,
    ValidationError,
    check_limit,
    check_reason,
)
from ticker.problems import Problem, invalid_fields
from ticker.routes.common import known_channel, read_json
from ticker.services import services
from ticker.store import NotFound, dumps


async def list_channels(request: Request) -> Response:
    channels = await services(request).store.channels()
    return JSONResponse(
        {"channels": [c.to_json() for c in channels]},
        headers={**PUBLIC_HEADERS, "Cache-Control": "public, max-age=30"},
    )


async def list_items(request: Request) -> Response:
    channel = await known_channel(request, request.path_params["channel"])
    try:
        limit = check_limit(request.query_params.get("limit"))
    except FieldError as exc:
        raise invalid_fields([exc]) from None
    snapshot = await services(request).store.snapshot(channel.id, limit)
    body = dumps(snapshot.to_json()).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    max_age = services(request).settings.snapshot_max_age
    headers = {**PUBLIC_HEADERS, "ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if not_modified(request.headers, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


async def publish_item(request: Request) -> Response:
    svc = services(request)
    principal = await authenticate(request, svc.store, svc.sessions)
    channel = await known_channel(request, request.path_params["channel"])
    require_channel(principal, channel.id)
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
        raise Problem(400, f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters.")
    inp = _parse(await read_json(request), partial=False)
    try:
        outcome = await publishing.publish(svc.store, channel, inp, principal.actor, key)
    except publishing.IdempotencyMismatch:
        raise Problem(
            422,
            "This Idempotency-Key was already used for a different item; use a new key for a "
            "new item.",
            title="Idempotency-Key reused",
        ) from None
    except NotFound:
        raise Problem(404, f"There is no channel '{channel.id}'.") from None
    item = outcome.item
    location = f"/api/v1/channels/{channel.id}/items/{item.id}"
    return JSONResponse(
        item.to_json(), status_code=201 if outcome.created else 200, headers={"Location": location}
    )


async def correct_item(request: Request) -> Response:
    svc = services(request)
    principal = await authenticate(request, svc.store, svc.sessions)
    channel = await known_channel(request, request.path_params["channel"])
    require_channel(principal, channel.id)
    item_id = _item_id(request)
    inp = _parse(await read_json(request), partial=True)
    try:
        item = await publishing.correct(svc.store, channel, item_id, inp, principal.actor)
    except NotFound:
        raise _no_item(channel.id, item_id) from None
    return JSONResponse(item.to_json())


async def retract_item(request: Request) -> Response:
    svc = services(request)
    principal = await authenticate(request, svc.store, svc.sessions)
    channel = await known_channel(request, request.path_params["channel"])
    require_channel(principal, channel.id)
    item_id = _item_id(request)
    reason = None
    if await _has_body(request):
        body = await read_json(request)
        if not isinstance(body, dict):
            raise invalid_fields([FieldError("body", "must be a JSON object")])
        unknown = [FieldError(k, "is not a known field") for k in body if k != "reason"]
        try:
            reason = check_reason(body.get("reason"))
        except FieldError as exc:
            unknown.append(exc)
        if unknown:
            raise invalid_fields(unknown)
    try:
        await publishing.retract(svc.store, channel, item_id, reason, principal.actor)
    except NotFound:
        raise _no_item(channel.id, item_id) from None
    return Response(status_code=204)


def _parse(body: object, partial: bool) -> ItemInput:
    try:
        return ItemInput.parse(body, partial=partial)
    except ValidationError as exc:
        raise invalid_fields(exc.errors) from None


def _item_id(request: Request) -> str:
    item_id: str = request.path_params["item_id"]
    if not EVENT_ID.match(item_id):
        raise _no_item(request.path_params["channel"], item_id)
    return item_id


def _no_item(channel: str, item_id: str) -> Problem:
    return Problem(
        404,
        f"There is no live item '{item_id}' on channel '{channel}' (it may have expired "
        "or been retracted).",
    )


async def _has_body(request: Request) -> bool:
    if request.headers.get("content-length", "0") not in ("", "0"):
        return True
    return "chunked" in request.headers.get("transfer-encoding", "")


# One endpoint per path, so that a 405 lists every method of the path in `Allow`.


class Items(HTTPEndpoint):
    async def get(self, request: Request) -> Response:  # and HEAD
        return await list_items(request)

    async def post(self, request: Request) -> Response:
        return await publish_item(request)


class Item(HTTPEndpoint):
    async def patch(self, request: Request) -> Response:
        return await correct_item(request)

    async def delete(self, request: Request) -> Response:
        return await retract_item(request)


routes = [
    Route("/api/v1/channels", list_channels, methods=["GET"]),
    Route("/api/v1/channels/{channel}/items", Items),
    Route("/api/v1/channels/{channel}/items/{item_id}", Item),
]
