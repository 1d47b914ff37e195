"""Every Redis key of the service, under one prefix: the whole keyspace on one screen.

| key                      | type   | holds                                                   |
| ------------------------ | ------ | ------------------------------------------------------- |
| `{p}log`                 | stream | the event log: every publish, update, retract, expire,  |
|                          |        | and channel change (fields type, channel, item, data,   |
|                          |        | actor, old)                                             |
| `{p}log:trimmed`         | string | id of the newest entry trimmed away (resume horizon)    |
| `{p}log:epoch`           | hash   | the log's epoch: `id` (random) and `since` (the id of   |
|                          |        | the `epoch` entry that began it); a new one after Redis |
|                          |        | lost data (docs/api.md, "Epochs")                       |
| `{p}channels`            | hash   | channel id -> channel JSON                              |
| `{p}items:{channel}`     | hash   | item id -> item JSON without its id (the live state)    |
| `{p}last`                | hash   | channel id -> id of the last event applied to its state |
| `{p}expiry`              | zset   | `{channel}/{item id}` scored by expiry time in ms       |
| `{p}tokens`              | hash   | sha256(token) -> token JSON (never the token itself)    |
| `{p}token-names`         | hash   | token name -> sha256(token)                             |
| `{p}bootstrap`           | string | held for a minute by the process creating `main` and   |
|                          |        | the first admin, so replicas starting together do not  |
|                          |        | each make one                                           |
| `{p}users`               | hash   | user name -> user JSON (argon2id password hash)         |
| `{p}idem:{sha256}`       | string | the first result of an Idempotency-Key, with a TTL      |
| `{p}audit`               | stream | who changed what: every publish, update, retract,       |
|                          |        | expire, channel, user and token change (fields type,    |
|                          |        | channel, item, data, actor, old); kept far longer than  |
|                          |        | the log (Store.audit_retention_seconds)                 |
| `{p}session:{sha256}`    | string | a desk session (JSON: user, CSRF token, deadline); its  |
|                          |        | TTL is the idle timeout                                 |
| `{p}user-sessions:{name}`| set    | digests of a user's sessions, to end them all at once   |
| `{p}throttle:{kind}:{h}` | string | failed logins per user or address in the current window |
| `{p}desk:secret`         | string | the key that signs desk cookies, made on first use      |
| `{p}process:{id}`        | string | a serving process's heartbeat (JSON: host, pid, readers |
|                          |        | per channel, log position...); TTL three beats          |
| `{p}processes`           | zset   | process ids scored by their last heartbeat (ms)         |
| `{p}reach:{c}:{item}`    | string | streams an item went out to, over every process; it     |
|                          |        | expires a day after the item does                       |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def log(self) -> str:
        return f"{self.prefix}log"

    @property
    def trimmed(self) -> str:
        return f"{self.prefix}log:trimmed"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}log:epoch"

    @property
    def channels(self) -> str:
        return f"{self.prefix}channels"

    @property
    def last(self) -> str:
        return f"{self.prefix}last"

    @property
    def expiry(self) -> str:
        return f"{self.prefix}expiry"

    @property
    def tokens(self) -> str:
        return f"{self.prefix}tokens"

    @property
    def token_names(self) -> str:
        return f"{self.prefix}token-names"

    @property
    def bootstrap(self) -> str:
        return f"{self.prefix}bootstrap"

    @property
    def users(self) -> str:
        return f"{self.prefix}users"

    @property
    def audit(self) -> str:
        return f"{self.prefix}audit"

    @property
    def desk_secret(self) -> str:
        return f"{self.prefix}desk:secret"

    def session(self, digest: str) -> str:
        return f"{self.prefix}session:{digest}"

    def user_sessions(self, name: str) -> str:
        return f"{self.prefix}user-sessions:{name}"

    def throttle(self, kind: str, value: str) -> str:
        # Hashed: user names and addresses are client-chosen text.
        return f"{self.prefix}throttle:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"

    def items(self, channel: str) -> str:
        return f"{self.prefix}items:{channel}"

    def idempotency(self, scope: str, channel: str, key: str) -> str:
        # Hashed so that any client-chosen key makes a short, safe key name.
        digest = hashlib.sha256(f"{scope}\0{channel}\0{key}".encode()).hexdigest()
        return f"{self.prefix}idem:{digest}"

    # The fleet view and reach

    @property
    def processes(self) -> str:
        return f"{self.prefix}processes"

    def process(self, process_id: str) -> str:
        return f"{self.prefix}process:{process_id}"

    def reach(self, channel: str, item_id: str) -> str:
        return f"{self.prefix}reach:{channel}:{item_id}"
