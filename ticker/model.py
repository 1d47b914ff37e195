"""Items, channels and events: normalisation and validation (docs/api.md, "Items").

Everything a user can send is checked here, once, for the API, the CLI and the
desk alike. Each problem is reported as a :class:`FieldError` naming the field,
so that one response can list every bad field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

TEXT_MAX = 280
URL_MAX = 2048
TTL_MIN = 60
TTL_MAX = 604_800
REASON_MAX = 280
IDEMPOTENCY_KEY_MAX = 255  # the Idempotency-Key header of a publish
SNAPSHOT_LIMIT = 20  # GET /items's items when `limit` is not given, and at most:
SNAPSHOT_MAX = 100
PRIORITIES = ("urgent", "normal")
TITLE_MAX = 100
ROLES = ("editor", "admin")
# A new password's least length (the rest of the rule: ticker/desk/passwords.py).
PASSWORD_MIN = 12
CHANNEL_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}\Z")
EVENT_ID = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})\Z")
# A BCP 47 language tag as channels carry it: "ar", "en", "ar-LB", "zh-Hant-TW".
LANG_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z")
# User and token names: they appear in the audit log, in URLs and on the command line.
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
RTL_LANGS = frozenset({"ar", "ckb", "dv", "fa", "he", "ku", "ps", "sd", "ug", "ur", "yi"})

# Bidi override, embedding and isolate controls (docs/api.md): U+202A–U+202E, U+2066–U+2069.
_BIDI_CONTROLS = {cp for cp in range(0x202A, 0x202F)} | {cp for cp in range(0x2066, 0x206A)}
# Unicode's 66 noncharacters: U+FDD0–U+FDEF and the last two code points of every plane
# (U+FFFE, U+FFFF, U+1FFFE, …, U+10FFFF). XML 1.0 forbids U+FFFE and U+FFFF, so lxml
# refuses them and a feed carrying one could not be written.
NONCHARACTERS = frozenset(range(0xFDD0, 0xFDF0)) | frozenset(
    plane + end for plane in range(0, 0x110000, 0x10000) for end in (0xFFFE, 0xFFFF)
)
# A lone UTF-16 surrogate: JSON's "\ud800" decodes to one, and no UTF-8 output can hold it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def schema_pattern(regex: re.Pattern[str]) -> str:
    """`regex` as a JSON Schema (ECMA-262) pattern, for the OpenAPI description: Python's
    end of string `\\Z` is ECMA's `$` (which, without the m flag, matches only there).
    Every pattern of this module ends in `\\Z` (Python's `$` also matches before a final
    newline), so one that does not is a mistake."""
    if not regex.pattern.endswith(r"\Z"):
        raise ValueError(f"{regex.pattern!r} does not end in \\Z")
    return regex.pattern.removesuffix(r"\Z") + "$"


class EventType(StrEnum):
    """The events of the public stream (docs/api.md, "Stream"), as the log's `type` names
    them. A StrEnum: each member is the bare string too, as the log and the wire carry it."""

    PUBLISH = "publish"
    UPDATE = "update"
    RETRACT = "retract"
    EXPIRE = "expire"


# The events that carry a whole item, and those that take one away.
ITEM_EVENTS = frozenset({EventType.PUBLISH, EventType.UPDATE})
REMOVAL_EVENTS = frozenset({EventType.RETRACT, EventType.EXPIRE})


class FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ValidationError(Exception):
    """One or more fields are invalid; `errors` names each one."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


EventId = tuple[int, int]


def parse_event_id(value: str) -> EventId:
    """`<ms>-<seq>` as a comparable tuple; ValueError when malformed."""
    match = EVENT_ID.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not an event id of the form <milliseconds>-<sequence>")
    return int(match.group(1)), int(match.group(2))


def format_event_id(eid: EventId) -> str:
    return f"{eid[0]}-{eid[1]}"


def normalise_text(raw: str) -> str:
    """NFC, control and bidi-override characters removed, surrounding white space trimmed.

    Line breaks and tabs inside the text become single spaces: an item is one
    line. Other control characters (category Cc: C0 and C1), the bidi controls,
    noncharacters and lone surrogates are dropped (HTML sanitizers let the bidi
    controls through, and XML cannot carry the others, so we strip at intake).
    Every text that comes out of here can be written to JSON, HTML, Atom and RSS.
    """
    out = []
    for ch in _SURROGATE.sub("", raw):
        cp = ord(ch)
        if ch in "\t\n\r\v\f\u2028\u2029\x85":
            out.append(" ")
        elif cp in _BIDI_CONTROLS or cp in NONCHARACTERS or unicodedata.category(ch) == "Cc":
            continue
        else:
            out.append(ch)
    # NFC last: a dropped character between a letter and its combining mark would
    # otherwise leave the pair uncomposed, and a second pass would change the text.
    return unicodedata.normalize("NFC", re.sub(r" {2,}", " ", "".join(out)).strip())


def check_unicode(value: str, field: str) -> None:
    """Refuse a lone surrogate: it means the client's text was broken before it was sent
    (half of an emoji, say), and dropping it silently would publish something else."""
    match = _SURROGATE.search(value)
    if match is not None:
        raise FieldError(
            field,
            f"contains U+{ord(match.group()):04X}, half of a UTF-16 surrogate pair without "
            "its other half: send the text as valid Unicode",
        )


def check_text(value: Any, field: str = "text") -> str:
    if not isinstance(value, str):
        raise FieldError(field, "must be a string")
    check_unicode(value, field)
    text = normalise_text(value)
    if not text:
        raise FieldError(field, "must not be empty (after removing spaces and control characters)")
    if len(text) > TEXT_MAX:
        raise FieldError(field, f"must be at most {TEXT_MAX} characters, not {len(text)}")
    return text


def check_url(value: Any) -> str | None:
    """An absolute http(s) URL, normalised to a valid URI (RFC 3986).

    Arabic news links are often IRIs (`https://example.com/أخبار`): non-ASCII
    characters are percent-encoded and an international host name becomes its
    punycode form, so every client gets a link that works as is.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError("url", "must be a string or null")
    check_unicode(value, "url")
    url = value.strip()
    if url == "":
        return None
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        raise FieldError("url", "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise FieldError("url", "is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise FieldError("url", "must be an absolute http:// or https:// URL")
    if "@" in parts.netloc:
        raise FieldError("url", "must not contain a user name or password")
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise FieldError("url", f"has an invalid host name {host!r}") from None
    if ":" in ascii_host:  # an IPv6 literal keeps its brackets
        ascii_host = f"[{ascii_host}]"
    netloc = ascii_host if port is None else f"{ascii_host}:{port}"
    normal = urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            _uri_part(parts.path),
            _uri_part(parts.query),
            _uri_part(parts.fragment),
        )
    )
    if len(normal) > URL_MAX:
        raise FieldError("url", f"must be at most {URL_MAX} characters (once encoded)")
    return normal


def _uri_part(text: str) -> str:
    """Percent-encode what a URI may not contain; keep what is already encoded."""
    # RFC 3986: path, query and fragment characters (pchar, "/" and "?"); "#", "[" and
    # "]" are encoded there, they are only delimiters or host syntax.
    quoted = quote(text, safe="/?@!$&'()*+,;=:-._~%")
    return re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", quoted)


def check_priority(value: Any) -> str:
    if not isinstance(value, str) or value not in PRIORITIES:
        raise FieldError("priority", 'must be "urgent" or "normal"')
    return value


def check_ttl(value: Any) -> int:
    # JSON has one number type: 600.0 is the whole number 600 (as JSON Schema says).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError("ttl_seconds", "must be a whole number of seconds")
    if not TTL_MIN <= value <= TTL_MAX:
        raise FieldError("ttl_seconds", f"must be between {TTL_MIN} and {TTL_MAX} seconds")
    return value


def check_reason(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError("reason", "must be a string or null")
    check_unicode(value, "reason")
    reason = normalise_text(value)
    if len(reason) > REASON_MAX:
        raise FieldError("reason", f"must be at most {REASON_MAX} characters")
    return reason or None


def check_channel_id(value: str) -> str:
    if not CHANNEL_ID.match(value):
        raise FieldError(
            "id",
            "must be 1 to 32 lower-case letters, digits or dashes, starting with a letter or digit",
        )
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError("timezone", f"{value!r} is not a known IANA time zone") from None
    return value


def check_title(value: str) -> str:
    """A channel's title, normalised like an item's text."""
    title = normalise_text(value)
    if not 1 <= len(title) <= TITLE_MAX:
        raise FieldError("title", f"must be 1 to {TITLE_MAX} characters")
    return title


def check_lang(value: str) -> str:
    if not LANG_TAG.match(value):
        raise FieldError("lang", f"{value!r} is not a language code such as ar, en or ar-LB")
    return value


def check_account_name(value: str) -> str:
    """A user's or a token's name."""
    if not ACCOUNT_NAME.match(value):
        raise FieldError(
            "name",
            "must be 1 to 64 letters, digits, dots, dashes or underscores, starting with a "
            "letter or digit",
        )
    return value


def check_role(value: str) -> str:
    if value not in ROLES:
        raise FieldError("role", f"must be one of {', '.join(ROLES)}")
    return value


def ascii_digits(raw: str) -> bool:
    """Whether `raw` is written in 0-9 only. `str.isdigit` is true for "²" and "١٠" too,
    and `int("²")` raises: every number a client writes goes through here."""
    return raw.isascii() and raw.isdigit()


def whole_number(raw: str, low: int, high: int) -> int | None:
    """`raw` as an integer from `low` to `high` written in ASCII digits, else None."""
    if not (ascii_digits(raw) and len(raw) <= 9):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def check_limit(raw: str | None) -> int:
    """GET /items's `limit`: from 1 to SNAPSHOT_MAX, SNAPSHOT_LIMIT when absent."""
    if raw is None:
        return SNAPSHOT_LIMIT
    limit = whole_number(raw, 1, SNAPSHOT_MAX)
    if limit is None:
        raise FieldError("limit", f"must be a whole number from 1 to {SNAPSHOT_MAX}")
    return limit


def shown_name(key: str) -> str:
    """A client's field name fit to repeat in an error (a lone surrogate as U+FFFD)."""
    return _SURROGATE.sub("\ufffd", key)


# What a publish or a correction may send (the API's body, the desk's form), and its checks.
_ITEM_INPUT_CHECKS: dict[str, Callable[[Any], Any]] = {
    "text": check_text,
    "url": check_url,
    "priority": check_priority,
    "ttl_seconds": check_ttl,
}
ITEM_INPUT_FIELDS = tuple(_ITEM_INPUT_CHECKS)


@dataclass(frozen=True)
class ItemInput:
    """A validated request to publish (all fields) or correct (only the given ones)."""

    text: str | None = None
    url: str | None = None
    url_given: bool = False
    priority: str | None = None
    ttl_seconds: int | None = None

    @classmethod
    def parse(cls, body: Any, *, partial: bool) -> ItemInput:
        """Check a JSON body; raise ValidationError listing every bad field."""
        if not isinstance(body, dict):
            raise ValidationError([FieldError("body", "must be a JSON object")])
        errors: list[FieldError] = []
        for key in body:
            if key not in ITEM_INPUT_FIELDS:
                errors.append(FieldError(shown_name(key), "is not a known field"))
        values: dict[str, Any] = {}
        for name, check in _ITEM_INPUT_CHECKS.items():
            if name in body:
                try:
                    values[name] = check(body[name])
                except FieldError as e:
                    errors.append(e)
        if not partial and "text" not in body:
            errors.append(FieldError("text", "is required"))
        if partial and not (set(body) & set(ITEM_INPUT_FIELDS)) and not errors:
            errors.append(
                FieldError("body", f"give at least one of {', '.join(ITEM_INPUT_FIELDS)}")
            )
        if errors:
            raise ValidationError(errors)
        return cls(
            text=values.get("text"),
            url=values.get("url"),
            url_given="url" in body,
            priority=values.get("priority"),
            ttl_seconds=values.get("ttl_seconds"),
        )


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """A live item, as docs/api.md ("Items") shows it.

    Redis stores it without its id, which is the key of its hash field and the id of
    the log entry that published it: `stored()` is that JSON object, `from_stored` reads
    it back. `to_json()` has the fields in the order the wire has always had them, so
    an item read and written again is the same bytes (`dumps(item.to_json())`).

    A msgspec.Struct, not a dataclass or attrs, by measurement (benchmarks/item_model.py;
    figures in docs/design.md, "The item model"): msgspec decodes an item from its
    stored JSON about four times faster than `json.loads` into a dict, which speeds up
    the snapshot path (GET /items, up to 100 items per request); a frozen dataclass or
    attrs class, whose constructors set each field from Python, slowed that path down.
    """

    id: str = ""  # "" until the log gives it one (publishing.publish)
    channel: str
    text: str
    url: str | None
    priority: str
    created_at: str
    updated_at: str
    expires_at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Item:
        """An item from its JSON (with its id), as the API, the stream and the log carry it."""
        return msgspec.convert(data, cls)

    @classmethod
    def from_stored(cls, item_id: str, raw: str | bytes) -> Item:
        """An item from the JSON Redis stores (without the id) and its id."""
        return msgspec.structs.replace(_STORED.decode(raw), id=item_id)

    def stored(self) -> dict[str, Any]:
        """The JSON object Redis stores: every field but the id."""
        fields = msgspec.structs.asdict(self)
        del fields["id"]
        return fields

    def to_json(self) -> dict[str, Any]:
        """The public JSON: the id first, then the stored fields."""
        return msgspec.structs.asdict(self)

    @property
    def corrected(self) -> bool:
        return self.updated_at != self.created_at


# Made once: a Decoder keeps what it learnt of Item's fields between calls.
_STORED = msgspec.json.Decoder(Item)


# An item as a typed Item or as its JSON (what the fan-out keeps in memory).
_ItemLike = TypeVar("_ItemLike", Item, dict[str, Any])


def _item_id(item: Item | Mapping[str, Any]) -> str:
    return item.id if isinstance(item, Item) else item["id"]


def newest_first(items: Iterable[_ItemLike]) -> list[_ItemLike]:
    """Items newest first: by their ids, which are log ids, compared as numbers
    (as strings, "9-0" would sort after "10-0")."""
    return sorted(items, key=lambda item: parse_event_id(_item_id(item)), reverse=True)


@dataclass(frozen=True)
class Channel:
    id: str
    title: str
    lang: str = "ar"
    timezone: str = "Asia/Beirut"
    default_ttl_seconds: int = 6 * 3600

    @classmethod
    def parse(
        cls, *, id: str, title: str, lang: str, timezone: str, default_ttl_seconds: int | None
    ) -> Channel:
        """A channel from what a user typed; ValidationError lists every bad field."""
        errors: list[FieldError] = []
        values: dict[str, Any] = {}
        checks: dict[str, tuple[Any, Any]] = {
            "id": (check_channel_id, id),
            "title": (check_title, title),
            "lang": (check_lang, lang),
            "timezone": (check_timezone, timezone),
            "default_ttl_seconds": (check_ttl, default_ttl_seconds),
        }
        for name, (check, value) in checks.items():
            try:
                values[name] = check(value)
            except FieldError as e:
                errors.append(FieldError(name, e.message))
        if errors:
            raise ValidationError(errors)
        return cls(**values)

    @property
    def dir(self) -> str:
        return "rtl" if self.lang.split("-")[0].lower() in RTL_LANGS else "ltr"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "lang": self.lang,
            "dir": self.dir,
            "timezone": self.timezone,
            "default_ttl_seconds": self.default_ttl_seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Channel:
        return cls(
            id=data["id"],
            title=data["title"],
            lang=data.get("lang", "ar"),
            timezone=data.get("timezone", "Asia/Beirut"),
            default_ttl_seconds=int(data.get("default_ttl_seconds", 6 * 3600)),
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """`2026-11-29T21:31:00Z`: RFC 3339 in UTC, whole seconds (docs/api.md)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
