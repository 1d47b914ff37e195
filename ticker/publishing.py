"""Publish, correct and retract: the one code path behind the API, the CLI and the desk."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import msgspec

from ticker import logs
from ticker.model import Channel, Item, ItemInput, rfc3339, utc_now
from ticker.store import Conflict, NotFound, PublishOutcome, Store, dumps

__all__ = ["Clock", "IdempotencyMismatch", "NotFound", "clock", "correct", "publish", "retract"]

UPDATE_ATTEMPTS = 5


class Clock:
    """The time items are stamped with, and that the expiry job compares their expiry
    with. A served process never moves it: it is the system clock. A test running the
    app in its own process moves it forward instead of waiting out whole seconds (the
    item times are shown to the second)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


clock = Clock()


class IdempotencyMismatch(Exception):
    """The Idempotency-Key was already used for a different request."""


def _fingerprint(inp: ItemInput) -> str:
    return hashlib.sha256(
        dumps([inp.text, inp.url, inp.priority, inp.ttl_seconds]).encode()
    ).hexdigest()


async def publish(
    store: Store,
    channel: Channel,
    inp: ItemInput,
    actor: str,
    idempotency_key: str | None = None,
) -> PublishOutcome:
    exact = clock.now()
    now = exact.replace(microsecond=0)  # the item's times are shown to the second
    ttl = inp.ttl_seconds or channel.default_ttl_seconds
    expires = now + timedelta(seconds=ttl)
    if inp.text is None:  # ItemInput.parse(partial=False) requires it
        raise ValueError("an item to publish needs its text")
    item = Item(
        channel=channel.id,
        text=inp.text,
        url=inp.url,
        priority=inp.priority or "urgent",
        created_at=rfc3339(now),
        updated_at=rfc3339(now),
        expires_at=rfc3339(expires),
    )
    idempotency = None
    if idempotency_key is not None:
        # Scoped to the caller, so two desks' keys never collide.
        idempotency = (actor, idempotency_key, _fingerprint(inp))
    outcome = await store.publish(channel.id, item, _expiry_ms(exact, ttl), actor, idempotency)
    if not outcome.fingerprint_matches:
        raise IdempotencyMismatch(idempotency_key)
    if outcome.created:
        logs.action(
            "publish",
            channel=channel.id,
            id=outcome.item.id,
            actor=actor,
            priority=outcome.item.priority,
            text=outcome.item.text,
        )
    return outcome


async def correct(store: Store, channel: Channel, item_id: str, inp: ItemInput, actor: str) -> Item:
    """Change the given fields of a live item; its id stays, `updated_at` moves.

    A new `ttl_seconds` counts from now. The write is a compare-and-set on the
    stored item, retried when another correction landed in between.
    """
    for _ in range(UPDATE_ATTEMPTS):
        raw = await store.get_item_raw(channel.id, item_id)
        if raw is None:
            raise NotFound(item_id)
        old = Item.from_stored(item_id, raw)
        exact = clock.now()
        now = exact.replace(microsecond=0)
        expires_ms = None  # unchanged, to the millisecond
        expires_at = old.expires_at
        if inp.ttl_seconds is not None:
            expires_at = rfc3339(now + timedelta(seconds=inp.ttl_seconds))
            expires_ms = _expiry_ms(exact, inp.ttl_seconds)
        item = msgspec.structs.replace(
            old,
            text=old.text if inp.text is None else inp.text,
            url=inp.url if inp.url_given else old.url,
            priority=old.priority if inp.priority is None else inp.priority,
            updated_at=rfc3339(now),
            expires_at=expires_at,
        )
        try:
            await store.update(channel.id, item, raw, expires_ms, actor)
        except Conflict:
            continue
        logs.action("correct", channel=channel.id, id=item_id, actor=actor, text=item.text)
        return item
    raise Conflict(item_id)


def _expiry_ms(now: datetime, ttl_seconds: int) -> int:
    """When the expiry job may remove an item: `ttl_seconds` after `now`, to the
    millisecond, rounded up. `expires_at` shows that time to the second, rounded down
    like `created_at`, so the item never goes before `created_at + ttl` (basing this on
    the truncated `now` expired items up to a second early)."""
    return math.ceil(now.timestamp() * 1000) + ttl_seconds * 1000


async def retract(
    store: Store, channel: Channel, item_id: str, reason: str | None, actor: str
) -> str:
    event_id = await store.retract(channel.id, item_id, reason, actor)
    logs.action("retract", channel=channel.id, id=item_id, actor=actor, reason=reason)
    return event_id
