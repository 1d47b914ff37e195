"""Every setting of the service, its default, and where it comes from.

Settings come from the environment (``REDIS_URL`` and ``TICKER_*``) and, for
the CLI, from flags that override them. Nothing else in the package reads the
environment: everything receives a :class:`Settings`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Setting:
    """How one field of :class:`Settings` is documented and read from the environment."""

    env: str
    help: str


def _setting(default: Any, env: str, help: str) -> Any:
    return field(default=default, metadata={"setting": Setting(env, help)})


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = _setting(
        None,
        "REDIS_URL",
        "The Redis to use. Unset: `ticker serve` starts an embedded Redis in `data_dir`.",
    )
    redis_sentinels: str | None = _setting(
        None,
        "REDIS_SENTINELS",
        "Sentinels to ask for the Redis master (`host:port,host:port`); overrides REDIS_URL.",
    )
    redis_sentinel_master: str = _setting(
        "mymaster", "REDIS_SENTINEL_MASTER", "The master's name known to the Sentinels."
    )
    publish_replicas: int = _setting(
        0,
        "TICKER_PUBLISH_REPLICAS",
        "Replicas that must have a change (Redis WAIT) before the API acknowledges it.",
    )
    publish_replica_timeout_ms: int = _setting(
        500,
        "TICKER_PUBLISH_REPLICA_TIMEOUT_MS",
        "How long to wait for those replicas; past it the API answers 503 (retry safely).",
    )
    key_prefix: str = _setting(
        "ticker:", "TICKER_KEY_PREFIX", "Prefix of every Redis key, so a shared Redis is safe."
    )
    host: str = _setting("127.0.0.1", "TICKER_HOST", "Address `ticker serve` listens on.")
    port: int = _setting(8000, "TICKER_PORT", "Port `ticker serve` listens on.")
    workers: int = _setting(1, "TICKER_WORKERS", "Worker processes of `ticker serve`.")
    data_dir: Path = _setting(  # noqa: RUF009 (Path is immutable)
        Path("ticker-data"),
        "TICKER_DATA_DIR",
        "Folder of the embedded Redis (append-only file on). Unused with REDIS_URL.",
    )
    retention_seconds: int = _setting(
        48 * 3600,
        "TICKER_RETENTION_SECONDS",
        "How long the event log keeps events (resume window).",
    )
    expire_interval_seconds: float = _setting(
        2.0,
        "TICKER_EXPIRE_INTERVAL",
        "How often the scheduler expires items whose time has passed.",
    )
    trim_interval_seconds: float = _setting(
        60.0, "TICKER_TRIM_INTERVAL", "How often the scheduler trims the log to its retention."
    )
    ring_size: int = _setting(
        10_000, "TICKER_RING_SIZE", "Recent events kept in memory to serve resumes without Redis."
    )
    # The stream's life cycle: startup, and resumes older than the ring.
    startup_timeout_seconds: float = _setting(
        60.0,
        "TICKER_STARTUP_TIMEOUT",
        "Seconds a process may take to load the stream from Redis before it exits with an error.",
    )
    replay_max: int = _setting(
        1000,
        "TICKER_REPLAY_MAX",
        "Most log entries one resume older than the ring reads from Redis; past it, `reset`.",
    )
    subscriber_buffer: int = _setting(
        256 * 1024,
        "TICKER_SUBSCRIBER_BUFFER",
        "Bytes a subscriber may fall behind by before it is disconnected (it resumes losslessly).",
    )
    stream_fast_path: bool = _setting(
        True,
        "TICKER_STREAM_FAST_PATH",
        "Serve streams on the direct-write fast path (ticker/stream/fastpath.py); "
        "false: through the app.",
    )
    delivery_slice: int = _setting(
        250,
        "TICKER_DELIVERY_SLICE",
        "Subscribers a fan-out serves before letting other work run (requests, connects).",
    )
    ping_seconds: float = _setting(
        10.0,
        "TICKER_PING_SECONDS",
        "Seconds between `: ping` rounds (at most 10: every stream hears within 15 s).",
    )
    retry_ms: int = _setting(
        2000,
        "TICKER_RETRY_MS",
        "Base of the `retry:` reconnect delay sent to clients; each stream adds up to 100% jitter.",
    )
    send_timeout_seconds: float = _setting(
        30.0, "TICKER_SEND_TIMEOUT", "A stream write stuck this long drops the subscriber."
    )
    # The public edge: what one connection may cost (heads, idle time, stalled readers).
    stream_send_buffer: int = _setting(
        64 * 1024,
        "TICKER_STREAM_SEND_BUFFER",
        "Kernel send buffer (SO_SNDBUF) of each stream socket; a stalled reader holds at most "
        "TICKER_SUBSCRIBER_BUFFER plus twice this (Linux doubles it) before it is dropped.",
    )
    max_streams: int = _setting(
        30_000,
        "TICKER_MAX_STREAMS",
        "Open streams one process serves; beyond it a stream request gets 503 with Retry-After.",
    )
    max_head_bytes: int = _setting(
        16 * 1024,
        "TICKER_MAX_HEAD_BYTES",
        "Largest request head (request line and headers); beyond it 431 and the connection closes.",
    )
    head_timeout_seconds: float = _setting(
        10.0,
        "TICKER_HEAD_TIMEOUT",
        "Seconds a client has to send a whole request head; past it 408 and the connection closes.",
    )
    keep_alive_seconds: float = _setting(
        5.0,
        "TICKER_KEEP_ALIVE",
        "Seconds an idle kept-alive connection waits for its next request before it is closed.",
    )
    redis_timeout_seconds: float = _setting(
        0.8,
        "TICKER_REDIS_TIMEOUT",
        "Socket timeout of API calls to Redis; past it the API answers 503 with Retry-After.",
    )
    snapshot_max_age: int = _setting(
        2, "TICKER_SNAPSHOT_MAX_AGE", "`Cache-Control: max-age` of the items snapshot, in seconds."
    )
    idempotency_seconds: int = _setting(
        24 * 3600, "TICKER_IDEMPOTENCY_SECONDS", "How long an `Idempotency-Key` is remembered."
    )
    desk_idle_seconds: int = _setting(
        3600, "TICKER_DESK_IDLE_SECONDS", "A desk session ends after this long without a request."
    )
    desk_session_seconds: int = _setting(
        43200,
        "TICKER_DESK_SESSION_SECONDS",
        "A desk session ends this long after login, however active.",
    )
    audit_retention_seconds: int = _setting(
        400 * 86400, "TICKER_AUDIT_RETENTION_SECONDS", "How long the audit log keeps records."
    )
    log_level: str = _setting("info", "TICKER_LOG_LEVEL", "Log level: debug, info, warning, error.")
    log_format: str = _setting(
        "text", "TICKER_LOG_FORMAT", "`text` for people, `json` for one JSON object per line."
    )
    # The public edge: which names the service answers to, the base of its
    # absolute links, and who may read /metrics. Checked in `_validate_edge`.
    public_url: str | None = _setting(
        None,
        "TICKER_PUBLIC_URL",
        "The service's public base URL (`https://ticker.example`): every absolute link in "
        "feeds and page snippets starts with it, never with the request's Host; its host is "
        "always allowed. Unset: the request's Host, if allowed.",
    )
    allowed_hosts: str = _setting(
        "localhost,127.0.0.1,[::1]",
        "TICKER_ALLOWED_HOSTS",
        "Host names the app answers (comma-separated; `*.example.com` for subdomains, `*` for "
        "any); others get 400. Loopback only by default, so that no forged Host reaches a "
        "link: set TICKER_PUBLIC_URL (or this) before serving other names.",
    )
    metrics_allow: str = _setting(
        "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
        "TICKER_METRICS_ALLOW",
        "Client networks that may read `/metrics` (comma-separated CIDRs, `*` for all, `none` "
        "for nobody); others get 403. Default: loopback and private ranges, where scrapers live.",
    )

    # Feeds and the fleet view: who signs the feeds, and how often each
    # process reports itself (heartbeat, readers, deliveries) to Redis for /api/v1/status.
    newsroom_name: str = _setting(
        "Newsroom",
        "TICKER_NEWSROOM_NAME",
        "The author named in every feed (Atom requires one): your newsroom's name.",
    )
    heartbeat_seconds: float = _setting(
        5.0,
        "TICKER_HEARTBEAT_SECONDS",
        "How often each process writes its heartbeat and delivery counts to Redis; a process "
        "silent for three intervals leaves the status view.",
    )
    # Lag reports: the widget's sampled publish → screen lags (ticker/routes/beacon.py).
    lag_reports: bool = _setting(
        True,
        "TICKER_LAG_REPORTS",
        "Take the widget's lag reports at POST /api/v1/beacon/lag (ticker_screen_lag_seconds); "
        "false: 404, nothing recorded.",
    )
    lag_reports_per_minute: int = _setting(
        60,
        "TICKER_LAG_REPORTS_PER_MINUTE",
        "Lag reports one client address (an IPv6 /64) may send each process per minute; "
        "beyond, 429.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment, then `overrides` (flags) that are not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f.metadata["setting"].env)
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw, f.metadata["setting"].env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 < self.ping_seconds <= 10:
            # A busy stream skips a round (fanout/hub.py), so it may wait 1.5 intervals: 15 s.
            raise ConfigError("TICKER_PING_SECONDS must be above 0 and at most 10.")
        if self.ring_size < 1 or self.subscriber_buffer < 1 or self.delivery_slice < 1:
            raise ConfigError(
                "TICKER_RING_SIZE, TICKER_SUBSCRIBER_BUFFER and TICKER_DELIVERY_SLICE "
                "must be at least 1."
            )
        if self.replay_max < 1 or self.startup_timeout_seconds <= 0:
            raise ConfigError(
                "TICKER_REPLAY_MAX must be at least 1 and TICKER_STARTUP_TIMEOUT above 0."
            )
        if self.retention_seconds < 1:
            raise ConfigError("TICKER_RETENTION_SECONDS must be at least 1.")
        if self.log_format not in ("text", "json"):
            raise ConfigError("TICKER_LOG_FORMAT must be text or json.")
        if self.workers < 1:
            raise ConfigError("TICKER_WORKERS must be at least 1.")
        if not 0.1 <= self.heartbeat_seconds <= 60:
            raise ConfigError("TICKER_HEARTBEAT_SECONDS must be from 0.1 to 60.")
        if not self.newsroom_name.strip():
            raise ConfigError("TICKER_NEWSROOM_NAME must not be blank: feeds name it as author.")
        _validate_edge(self)
        if self.lag_reports_per_minute < 1:
            raise ConfigError("TICKER_LAG_REPORTS_PER_MINUTE must be at least 1.")
        if self.stream_send_buffer < 4096 or self.max_head_bytes < 1024 or self.max_streams < 1:
            raise ConfigError(
                "TICKER_STREAM_SEND_BUFFER must be at least 4096, TICKER_MAX_HEAD_BYTES at least "
                "1024 and TICKER_MAX_STREAMS at least 1."
            )
        if self.head_timeout_seconds <= 0 or self.keep_alive_seconds <= 0:
            raise ConfigError("TICKER_HEAD_TIMEOUT and TICKER_KEEP_ALIVE must be above 0.")

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings (for worker processes)."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.metadata["setting"].env] = str(value)
        return out


def _validate_edge(settings: Settings) -> None:
    """The public-edge settings parse, or say which one is wrong and how."""
    # Imported here: ticker.hosts reads Settings, and config must not depend on it.
    from ticker.hosts import HostError, parse_hosts, parse_networks, parse_public_url

    try:
        if settings.public_url is not None:
            parse_public_url(settings.public_url)
        parse_hosts(settings.allowed_hosts)
        parse_networks(settings.metrics_allow)
    except HostError as exc:
        raise ConfigError(str(exc)) from None


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: the README's configuration table."""
    rows = []
    for f in dataclasses.fields(Settings):
        meta: Setting = f.metadata["setting"]
        default = "unset" if f.default is None else str(f.default)
        rows.append((meta.env, default, meta.help))
    return rows


def _convert(name: str, type_name: Any, raw: str, env: str) -> Any:
    type_text = str(type_name)
    if type_text.startswith("bool"):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{env} must be true or false, not {raw!r}.")
    try:
        if type_text.startswith("int"):
            return int(raw)
        if type_text.startswith("float"):
            return float(raw)
    except ValueError:
        raise ConfigError(f"{env} must be a number, not {raw!r}.") from None
    if type_text.startswith("Path"):
        return Path(raw)
    return raw
