"""The async API over Redis that the rest of the app uses; the only code that talks to Redis."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from ticker.model import SNAPSHOT_MAX, Channel, Item, newest_first
from ticker.store import scripts
from ticker.store.keys import Keys

__all__ = [
    "Conflict",
    "EpochCheck",
    "LoadedState",
    "LogEntry",
    "LogRange",
    "NotFound",
    "NotReplicated",
    "PublishOutcome",
    "Snapshot",
    "Store",
    "TokenRecord",
    "UserRecord",
    "dumps",
]


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 text as is: the one encoding used in Redis and on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def decoded(value: bytes | str) -> str:
    # The store's clients decode replies (decode_responses=True); redis-py's types
    # cannot say so, and a client made without it would hand back bytes.
    return value.decode() if isinstance(value, bytes) else value


class NotFound(Exception):
    pass


class NotReplicated(RedisError):
    """The change is on the master but fewer replicas than asked have confirmed it."""

    def __init__(self, acknowledged: int, wanted: int) -> None:
        super().__init__(f"{acknowledged} of {wanted} replicas confirmed the change")


class Conflict(Exception):
    """The item changed between our read and our write; the caller retries."""


@dataclass(frozen=True)
class LogEntry:
    id: str
    type: str
    channel: str
    item: str
    data: str
    actor: str = ""
    old: str = ""

    @classmethod
    def from_fields(cls, entry_id: str, fields: dict[str, str]) -> LogEntry:
        return cls(
            id=entry_id,
            type=fields.get("type", ""),
            channel=fields.get("channel", ""),
            item=fields.get("item") or entry_id,
            data=fields.get("data", "{}"),
            actor=fields.get("actor", ""),
            old=fields.get("old", ""),
        )


@dataclass(frozen=True)
class Snapshot:
    """A channel's live items and the id of the last event they reflect (docs/api.md,
    "Snapshot")."""

    channel: str
    last_event_id: str
    live: list[Item]  # newest first

    @property
    def items(self) -> list[dict[str, Any]]:
        """The items as JSON, as the wire and the fan-out's snapshots carry them."""
        return [item.to_json() for item in self.live]

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "last_event_id": self.last_event_id, "items": self.items}


@dataclass(frozen=True)
class PublishOutcome:
    created: bool
    item: Item
    fingerprint_matches: bool = True


@dataclass(frozen=True)
class LoadedState:
    """Everything the fan-out needs to start, read in one atomic step."""

    head: str
    channels: dict[str, Channel]
    items: dict[str, dict[str, str]]  # channel -> item id -> stored json
    last: dict[str, str]
    recent: list[LogEntry]  # oldest first
    trimmed: str
    epoch: str = ""  # the log's epoch id
    since: str = "0-0"  # the id of the entry that began it: every older id is unknown


@dataclass(frozen=True)
class EpochCheck:
    """What the stream reader finds when it reconnects (`Store.check_epoch`)."""

    epoch: str
    since: str
    verdict: str  # "same"; "changed" (another process began one); "missing", "behind" (we did)

    @property
    def changed(self) -> bool:
        return self.verdict != "same"


@dataclass(frozen=True)
class LogRange:
    """A bounded read of the log (`Store.read_range`)."""

    trimmed: str  # the trim horizon, read with the entries
    entries: list[LogEntry]
    complete: bool  # False: the read stopped at its cap before reaching `upto`


@dataclass(frozen=True)
class TokenRecord:
    name: str
    channels: list[str] = field(default_factory=list)  # empty: every channel (Principal)
    created_at: str = ""
    admin: bool = False  # may also read the fleet's status (`ticker token create --admin`)


@dataclass(frozen=True)
class UserRecord:
    name: str
    role: str
    password_hash: str
    channels: list[str] = field(default_factory=list)
    disabled: bool = False
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "password_hash": self.password_hash,
            "channels": self.channels,
            "disabled": self.disabled,
            "created_at": self.created_at,
        }


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is a safe, fast lookup key.
    return hashlib.sha256(token.encode()).hexdigest()


AUDIT_RETENTION_SECONDS = 400 * 86400  # over a year: audits outlive the 48 h log


class Store:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        idempotency_seconds: int = 86400,
        audit_retention_seconds: int = AUDIT_RETENTION_SECONDS,
        replicas: int = 0,
        replica_timeout_ms: int = 500,
    ) -> None:
        self.redis = redis
        self.idempotency_seconds = idempotency_seconds
        self.audit_retention_seconds = audit_retention_seconds
        # Changes to publish, correct or retract are acknowledged only once this many
        # replicas have them (WAIT), so that a failover cannot lose an acknowledged item.
        self.replicas = replicas
        self.replica_timeout_ms = replica_timeout_ms
        self.keys = Keys(prefix)
        self._publish = redis.register_script(scripts.PUBLISH)
        self._update = redis.register_script(scripts.UPDATE)
        self._retract = redis.register_script(scripts.RETRACT)
        self._expire = redis.register_script(scripts.EXPIRE)
        self._trim = redis.register_script(scripts.TRIM)
        self._load = redis.register_script(scripts.LOAD)
        self._check_epoch = redis.register_script(scripts.CHECK_EPOCH)
        self._save_channel = redis.register_script(scripts.SAVE_CHANNEL)
        self._save_user = redis.register_script(scripts.SAVE_USER)

    # Channels

    async def channels(self) -> list[Channel]:
        raw = await self.redis.hgetall(self.keys.channels)
        return sorted((Channel.from_json(json.loads(v)) for v in raw.values()), key=lambda c: c.id)

    async def get_channel(self, channel_id: str) -> Channel | None:
        raw = await self.redis.hget(self.keys.channels, channel_id)
        return None if raw is None else Channel.from_json(json.loads(raw))

    async def save_channel(self, channel: Channel, actor: str = "") -> str:
        """Add or change a channel; the change is an event, so every process learns of it."""
        k = self.keys
        return decoded(
            await self._save_channel(
                keys=[k.channels, k.log, k.audit],
                args=[channel.id, dumps(channel.to_json()), actor],
            )
        )

    # Items

    async def snapshot(self, channel: str, limit: int = SNAPSHOT_MAX) -> Snapshot:
        # One MULTI: the items and the id of the last event they reflect, read together.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.keys.items(channel))
            pipe.hget(self.keys.last, channel)
            raw_items, last = await pipe.execute()
        return Snapshot(channel, last or "0-0", _live(raw_items, limit))

    async def get_item_raw(self, channel: str, item_id: str) -> str | None:
        """A live item's stored JSON, exactly: what `update` compares before it writes."""
        raw = await self.redis.hget(self.keys.items(channel), item_id)
        return None if raw is None else decoded(raw)

    async def get_item(self, channel: str, item_id: str) -> Item | None:
        raw = await self.get_item_raw(channel, item_id)
        return None if raw is None else Item.from_stored(item_id, raw)

    async def publish(
        self,
        channel: str,
        item: Item,
        expires_ms: int,
        actor: str,
        idempotency: tuple[str, str, str] | None = None,
    ) -> PublishOutcome:
        """Append a publish event and add the item (its id is the event's), atomically.

        `idempotency` is (scope, key, fingerprint of the request): a retry with the
        same scope and key returns the first result instead of publishing again.
        """
        k = self.keys
        item_json = dumps(item.stored())
        fingerprint, idem_key = "", k.idempotency("-", channel, "-")
        if idempotency is not None:
            scope, key, fingerprint = idempotency
            idem_key = k.idempotency(scope, channel, key)
        result = await self._replicated(
            self._publish,
            keys=[k.log, k.channels, k.items(channel), k.expiry, k.last, idem_key, k.audit],
            args=[channel, item_json, expires_ms, actor, fingerprint, self.idempotency_seconds],
        )
        status = int(result[0])
        if status == -1:
            raise NotFound(channel)
        if status == 1:
            return PublishOutcome(True, msgspec.structs.replace(item, id=result[1]))
        prior_fingerprint, prior_id, prior_json = result[1].split("\n", 2)
        return PublishOutcome(
            False, Item.from_stored(prior_id, prior_json), prior_fingerprint == fingerprint
        )

    async def update(
        self,
        channel: str,
        item: Item,
        old_json: str,
        expires_ms: int | None,
        actor: str,
    ) -> str:
        """Replace a live item with `item` (of the same id) if it is still `old_json`;
        `expires_ms` None keeps its expiry time as it is (to the millisecond)."""
        k = self.keys
        item_id, new_json = item.id, dumps(item.stored())
        result = await self._replicated(
            self._update,
            keys=[k.log, k.items(channel), k.expiry, k.last, k.audit],
            args=[
                channel,
                item_id,
                old_json,
                new_json,
                "" if expires_ms is None else expires_ms,
                actor,
            ],
        )
        if int(result[0]) == -1:
            raise NotFound(item_id)
        if int(result[0]) == 0:
            raise Conflict(item_id)
        return decoded(result[1])

    async def retract(self, channel: str, item_id: str, reason: str | None, actor: str) -> str:
        k = self.keys
        data = dumps({"id": item_id, "channel": channel, "reason": reason})
        result = await self._replicated(
            self._retract,
            keys=[k.log, k.items(channel), k.expiry, k.last, k.audit],
            args=[channel, item_id, data, actor],
        )
        if int(result[0]) == -1:
            raise NotFound(item_id)
        return decoded(result[1])

    async def _replicated(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a change script; with `replicas`, wait on the same connection until that many
        replicas have it (Redis WAIT), else raise NotReplicated."""
        if self.replicas <= 0:
            return await script(keys=keys, args=args)
        async with self.redis.pipeline(transaction=False) as pipe:
            await script(keys=keys, args=args, client=pipe)
            pipe.wait(self.replicas, self.replica_timeout_ms)
            result, acknowledged = await pipe.execute()
        if acknowledged < self.replicas:
            raise NotReplicated(acknowledged, self.replicas)
        return result

    async def expire_due(self, now_ms: int, batch: int = 500) -> list[str]:
        """Expire items whose time has passed; returns the expire events' ids."""
        k = self.keys
        ids = await self._expire(
            keys=[k.log, k.expiry, k.last, k.audit], args=[now_ms, batch, k.prefix]
        )
        return [decoded(i) for i in ids]

    async def trim(self, min_ms: int) -> int:
        """Remove log entries older than `min_ms`, exactly (not approximately: see
        docs/design.md, "Traps"), and audit records past their own, much longer, retention."""
        removed = int(
            await self._trim(keys=[self.keys.log, self.keys.trimmed], args=[f"{min_ms}-0"])
        )
        audit_min_ms = int(time.time() * 1000) - self.audit_retention_seconds * 1000
        # Approximate is fine here: an audit record kept a little longer harms no one.
        await self.redis.xtrim(self.keys.audit, minid=f"{audit_min_ms}-0", approximate=True)
        return removed

    # The log

    async def load(self, recent: int) -> LoadedState:
        """The live state, the `recent` newest log entries and the epoch, in one atomic
        step; a log without an epoch gets one first."""
        k = self.keys
        head, channels, items, last, entries, trimmed, epoch, since = await self._load(
            keys=[k.channels, k.log, k.last, k.trimmed, k.epoch],
            args=[k.prefix, recent, secrets.token_hex(8)],
        )
        channel_map = {
            channels[i]: Channel.from_json(json.loads(channels[i + 1]))
            for i in range(0, len(channels), 2)
        }
        item_map = {items[i]: _pairs(items[i + 1]) for i in range(0, len(items), 2)}
        return LoadedState(
            head=head,
            channels=channel_map,
            items=item_map,
            last=_pairs(last),
            recent=[LogEntry.from_fields(eid, _pairs(f)) for eid, f in reversed(entries)],
            trimmed=trimmed,
            epoch=epoch,
            since=since,
        )

    async def check_epoch(self, epoch: str, read: str) -> EpochCheck:
        """Is the log still the one we read up to `read`, in epoch `epoch`? If Redis lost
        it (the epoch is gone, or the entry `read` is, untrimmed), a new epoch begins."""
        k = self.keys
        found, since, verdict = await self._check_epoch(
            keys=[k.epoch, k.log, k.trimmed], args=[epoch, read, secrets.token_hex(8)]
        )
        return EpochCheck(found, since, verdict)

    async def head(self) -> str:
        """The id of the newest entry ever added to the log ("0-0" for none)."""
        try:
            info = await self.redis.xinfo_stream(self.keys.log)
        except ResponseError:  # no such key: nothing was ever logged
            return "0-0"
        return str(info["last-generated-id"])

    async def read_range(self, after: str, upto: str, limit: int) -> LogRange:
        """At most `limit` entries in (after, upto], with the trim horizon read in the
        same MULTI. Bounded, so that one resume cannot make Redis (and us) copy the
        whole log."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.trimmed)
            pipe.xrange(self.keys.log, f"({after}", upto, count=limit + 1)
            trimmed, raw = await pipe.execute()
        entries = [LogEntry.from_fields(eid, f) for eid, f in raw[:limit]]
        return LogRange(trimmed or "0-0", entries, complete=len(raw) <= limit)

    # Tokens

    async def create_token(
        self, name: str, channels: list[str], created_at: str, admin: bool = False
    ) -> str:
        token = "tk_" + secrets.token_urlsafe(32)
        digest = hash_token(token)
        fields: dict[str, Any] = {"name": name, "channels": channels, "created_at": created_at}
        if admin:
            fields["admin"] = True
        record = dumps(fields)
        # HSETNX on the name first: two creators of the same name cannot both win.
        if not await self.redis.hsetnx(self.keys.token_names, name, digest):
            raise ValueError(f"a token named {name!r} already exists; revoke it or pick another")
        await self.redis.hset(self.keys.tokens, digest, record)
        return token

    async def find_token(self, token: str) -> TokenRecord | None:
        raw = await self.redis.hget(self.keys.tokens, hash_token(token))
        if raw is None:
            return None
        return _token(json.loads(raw))

    async def list_tokens(self) -> list[TokenRecord]:
        raw = await self.redis.hgetall(self.keys.tokens)
        return sorted((_token(json.loads(v)) for v in raw.values()), key=lambda t: t.name)

    async def revoke_token(self, name: str) -> bool:
        digest = await self.redis.hget(self.keys.token_names, name)
        if digest is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.tokens, digest)
            pipe.hdel(self.keys.token_names, name)
            await pipe.execute()
        return True

    # Users

    async def save_user(
        self,
        user: UserRecord,
        *,
        end_sessions: bool = False,
        actor: str = "",
        audit: dict[str, Any] | None = None,
    ) -> int:
        """Add or change a user; `end_sessions` logs them out everywhere in the same
        atomic step (disabling, a new password); `audit` is recorded as a `user` change.
        Returns how many sessions were ended."""
        k = self.keys
        return int(
            await self._save_user(
                keys=[k.users, k.user_sessions(user.name), k.audit],
                args=[
                    user.name,
                    dumps(user.to_json()),
                    "1" if end_sessions else "0",
                    k.prefix,
                    actor,
                    dumps(audit) if audit is not None else "",
                ],
            )
        )

    async def get_user(self, name: str) -> UserRecord | None:
        raw = await self.redis.hget(self.keys.users, name)
        return None if raw is None else _user(json.loads(raw))

    async def list_users(self) -> list[UserRecord]:
        raw = await self.redis.hgetall(self.keys.users)
        return sorted((_user(json.loads(v)) for v in raw.values()), key=lambda u: u.name)

    # Start-up

    async def claim_bootstrap(self, holder: str, seconds: int = 60) -> bool:
        """Take `{p}bootstrap` for `seconds` unless another process holds it (SET NX EX).
        Of several processes starting together on an empty Redis, only the one that gets
        True creates the first channel and admin, so there is one admin, printed once."""
        return bool(await self.redis.set(self.keys.bootstrap, holder, nx=True, ex=seconds))

    # Feeds and the fleet view

    async def snapshot_at(self, channel: str, limit: int = SNAPSHOT_MAX) -> tuple[Snapshot, int]:
        """The snapshot and Redis's clock in ms, read in one MULTI: a feed's Last-Modified
        must not claim a second in which a later change could still be logged."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.keys.items(channel))
            pipe.hget(self.keys.last, channel)
            pipe.time()
            raw_items, last, (seconds, micros) = await pipe.execute()
        snapshot = Snapshot(channel, last or "0-0", _live(raw_items, limit))
        return snapshot, seconds * 1000 + micros // 1000

    async def beat(self, process_id: str, record: str, ttl_ms: int, now_ms: int) -> None:
        """Write a process's heartbeat; it vanishes `ttl_ms` after the last one. The index
        forgets ids silent for ten TTLs (a process killed without a goodbye)."""
        k = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(k.process(process_id), record, px=ttl_ms)
            pipe.zadd(k.processes, {process_id: now_ms})
            pipe.zremrangebyscore(k.processes, "-inf", now_ms - 10 * ttl_ms)
            await pipe.execute()

    async def leave(self, process_id: str) -> None:
        """A process that stops cleanly leaves the status view at once."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.process(process_id))
            pipe.zrem(self.keys.processes, process_id)
            await pipe.execute()

    async def heartbeats(self) -> list[dict[str, Any]]:
        """The heartbeats of live processes (those whose record has not expired)."""
        ids = [str(i) for i in await self.redis.zrange(self.keys.processes, 0, -1)]
        if not ids:
            return []
        records = await self.redis.mget([self.keys.process(i) for i in ids])
        return [json.loads(r) for r in records if r is not None]

    async def add_reach(self, counts: dict[tuple[str, str], tuple[int, int]]) -> None:
        """Add to the streams reached per (channel, item id), over every process: each
        value is (streams, when the count may go, in ms: a day after the item expires)."""
        if not counts:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for (channel, item_id), (n, expire_at_ms) in counts.items():
                key = self.keys.reach(channel, item_id)
                pipe.incrby(key, n)
                pipe.pexpireat(key, expire_at_ms)
            await pipe.execute()

    async def reach(self, channel: str, item_ids: list[str]) -> dict[str, int]:
        """How many streams each item went out to, over every process (0: none yet)."""
        if not item_ids:
            return {}
        values = await self.redis.mget([self.keys.reach(channel, i) for i in item_ids])
        return {i: int(v or 0) for i, v in zip(item_ids, values, strict=True)}

    async def ping(self) -> None:
        """Is Redis there? Raises RedisError or OSError if not (/healthz/redis)."""
        await self.redis.ping()

    async def close(self) -> None:
        """Close the store's connections (the app's lifespan, at the end)."""
        await self.redis.aclose()


def _token(data: dict[str, Any]) -> TokenRecord:
    return TokenRecord(
        data["name"],
        data.get("channels", []),
        data.get("created_at", ""),
        admin=bool(data.get("admin", False)),
    )


def _user(data: dict[str, Any]) -> UserRecord:
    return UserRecord(
        name=data["name"],
        role=data["role"],
        password_hash=data["password_hash"],
        channels=data.get("channels", []),
        disabled=bool(data.get("disabled", False)),
        created_at=data.get("created_at", ""),
    )


def _live(stored: dict[str, str], limit: int) -> list[Item]:
    """The `limit` newest of a channel's items, from its hash (item id -> stored JSON)."""
    return newest_first(Item.from_stored(i, raw) for i, raw in stored.items())[:limit]


def _pairs(flat: list[str]) -> dict[str, str]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}
