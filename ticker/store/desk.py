"""What the news desk keeps in Redis beside the items: sessions, login throttles, the
cookie-signing key, and the audit stream's reading side.

The audit records themselves are appended by the Lua scripts (scripts.py), in the
same atomic step as the change they describe; only administrative changes made
outside a script (tokens) are appended here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from ticker.store.store import LogEntry, Store, decoded, dumps

__all__ = ["AuditEntry", "DeskStore", "SessionRecord", "session_digest"]


def session_digest(session_id: str) -> str:
    # The id carries 256 random bits: a plain SHA-256 is a safe key, and Redis
    # never holds a value a stolen dump could replay as a cookie.
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class SessionRecord:
    user: str
    csrf: str
    created_ms: int
    deadline_ms: int  # the absolute end, however active the session is
    draft: dict[str, str] | None = None  # a compose form carried across a new login

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user,
            "csrf": self.csrf,
            "created_ms": self.created_ms,
            "deadline_ms": self.deadline_ms,
        }
        if self.draft:
            data["draft"] = self.draft
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionRecord:
        return cls(
            user=data["user"],
            csrf=data["csrf"],
            created_ms=int(data["created_ms"]),
            deadline_ms=int(data["deadline_ms"]),
            draft=data.get("draft"),
        )


AuditEntry = LogEntry  # the same fields as a log entry: type, channel, item, data, actor, old


class DeskStore:
    def __init__(self, store: Store) -> None:
        self.redis = store.redis
        self.keys = store.keys

    # The key that signs cookies: made once, shared by every replica through Redis.

    async def secret(self) -> str:
        fresh = secrets.token_urlsafe(48)
        await self.redis.set(self.keys.desk_secret, fresh, nx=True)
        value = await self.redis.get(self.keys.desk_secret)
        return decoded(value) if value else fresh

    # Sessions

    async def create_session(self, session_id: str, record: SessionRecord, idle: int) -> None:
        digest = session_digest(session_id)
        index = self.keys.user_sessions(record.user)
        lifetime_s = max(1, (record.deadline_ms - record.created_ms) // 1000)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.session(digest), dumps(record.to_json()), ex=idle)
            pipe.sadd(index, digest)
            pipe.expire(index, lifetime_s)
            await pipe.execute()

    async def touch_session(self, session_id: str, idle: int) -> SessionRecord | None:
        """The session, its idle timer restarted (GETEX: one round trip); None when gone."""
        raw = await self.redis.getex(self.keys.session(session_digest(session_id)), ex=idle)
        return None if raw is None else SessionRecord.from_json(json.loads(raw))

    async def save_session(self, session_id: str, record: SessionRecord, idle: int) -> None:
        # XX: never resurrect a session that was ended meanwhile (a user disabled).
        await self.redis.set(
            self.keys.session(session_digest(session_id)),
            dumps(record.to_json()),
            ex=idle,
            xx=True,
        )

    async def end_session(self, session_id: str, user: str) -> None:
        digest = session_digest(session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.session(digest))
            pipe.srem(self.keys.user_sessions(user), digest)
            await pipe.execute()

    async def end_other_sessions(self, user: str, keep_session_id: str) -> int:
        keep = session_digest(keep_session_id)
        digests = await self.redis.smembers(self.keys.user_sessions(user))
        others = [d for d in map(decoded, digests) if d != keep]
        if not others:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*(self.keys.session(d) for d in others))
            pipe.srem(self.keys.user_sessions(user), *others)
            ended, _ = await pipe.execute()
        return int(ended)

    # Login throttling: fixed windows of counted failures.

    async def failures(self, kind: str, value: str) -> tuple[int, int]:
        """(failures in the current window, seconds until it ends)."""
        key = self.keys.throttle(kind, value)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.ttl(key)
            count, ttl = await pipe.execute()
        return int(count or 0), max(int(ttl), 0)

    async def add_failure(self, kind: str, value: str, window: int) -> tuple[int, int]:
        key = self.keys.throttle(kind, value)
        # One MULTI: the window starts with the first failure (SET NX EX) and is
        # never extended by later ones, so a lock always ends.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=window, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
            _, count, ttl = await pipe.execute()
        return int(count), max(int(ttl), 0)

    async def clear_failures(self, kind: str, value: str) -> None:
        await self.redis.delete(self.keys.throttle(kind, value))

    # Audit

    async def record(
        self, type: str, actor: str, subject: str, data: dict[str, Any], channel: str = ""
    ) -> str:
        """An administrative change made outside the Lua scripts (tokens)."""
        entry_id = await self.redis.xadd(
            self.keys.audit,
            {
                "type": type,
                "channel": channel,
                "item": subject,
                "data": dumps(data),
                "actor": actor,
            },
        )
        return decoded(entry_id)

    async def audit(
        self, newest: str = "+", oldest: str = "-", count: int = 500
    ) -> list[AuditEntry]:
        """Audit records between two ids (inclusive; `(id` excludes), newest first."""
        raw = await self.redis.xrevrange(self.keys.audit, newest, oldest, count=count)
        return [
            LogEntry.from_fields(decoded(eid), {decoded(k): decoded(v) for k, v in fields.items()})
            for eid, fields in raw or []
            if eid is not None and fields is not None
        ]
