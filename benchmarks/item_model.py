#!/usr/bin/env python3
"""What a typed item costs on the hot path: today's dict, a frozen slotted dataclass,
msgspec.Struct (ticker.model.Item) and attrs, timed at what the service does per item.

- build: an item from a log entry's fields (its id and the stored JSON without the id),
  as the store and the fan-out read them;
- serialise: the item as the UTF-8 JSON sent to readers (`data:` of the frames, the
  body of GET /items);
- snapshot: GET /items?limit=100 without Redis: 100 stored items built, sorted newest
  first and written as the body (per item, to compare with the other columns);
- validate: a POST body checked (`ItemInput.parse`, the same for every candidate: msgspec's
  own validation cannot normalise text to NFC nor word the errors per field) and made into
  the item and the JSON Redis stores.

Every candidate must produce the same bytes as the dict (the wire is docs/api.md's
contract); the script checks that before it times anything, and that msgspec's encoder
writes every code point as `json.dumps` does.

    python benchmarks/item_model.py                  # attrs too, when it is installed
    python benchmarks/item_model.py --rounds 200000 --repeat 7

Prints nanoseconds per item (the best of --repeat runs of --rounds items) and the ratio
to the dict. The figures of the choice are in docs/design.md, "The item model".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from ticker.model import Item, ItemInput, newest_first, parse_event_id
from ticker.store import dumps

ENTRY_ID = "1764451860000-0"
STORED = dumps(
    {
        "channel": "lebanon",
        "text": "الممثل الإقليمي لمنظمة الفاو: فتح ممرات إنسانية في الجنوب قليل جدا حتى الآن",
        "url": "https://example.com/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/2026/11/29",
        "priority": "urgent",
        "created_at": "2026-11-29T21:31:00Z",
        "updated_at": "2026-11-29T21:31:00Z",
        "expires_at": "2026-11-30T03:31:00Z",
    }
)
BODY = json.dumps(
    {
        "text": "  الممثل الإقليمي لمنظمة الفاو: فتح ممرات إنسانية في الجنوب قليل جدا  ",
        "url": "https://example.com/أخبار/2026/11/29",
        "priority": "urgent",
        "ttl_seconds": 21600,
    },
    ensure_ascii=False,
).encode()
TIMES = {
    "created_at": "2026-11-29T21:31:00Z",
    "updated_at": "2026-11-29T21:31:00Z",
    "expires_at": "2026-11-30T03:31:00Z",
}


class Candidate(ABC):
    """One way to hold an item: how to build it, serialise it, and make it from a POST."""

    name = ""

    @abstractmethod
    def build(self, entry_id: str, stored: str) -> Any: ...

    @abstractmethod
    def serialise(self, item: Any) -> bytes: ...

    @abstractmethod
    def new(self, inp: ItemInput) -> bytes:
        """The item a checked POST makes, as the JSON Redis stores."""

    def body(self, items: list[Any]) -> bytes:
        """GET /items's body."""
        return dumps(
            {"channel": "lebanon", "last_event_id": ENTRY_ID, "items": [i.to_json() for i in items]}
        ).encode()


class DictItem(Candidate):
    name = "dict (today)"

    def build(self, entry_id: str, stored: str) -> Any:
        return {"id": entry_id, **json.loads(stored)}

    def serialise(self, item: Any) -> bytes:
        return dumps(item).encode()

    def body(self, items: list[Any]) -> bytes:
        return dumps({"channel": "lebanon", "last_event_id": ENTRY_ID, "items": items}).encode()

    def new(self, inp: ItemInput) -> bytes:
        item = {
            "channel": "lebanon",
            "text": inp.text,
            "url": inp.url,
            "priority": inp.priority or "urgent",
            **TIMES,
        }
        return dumps(item).encode()


@dataclass(frozen=True, slots=True)
class DataclassRecord:
    id: str
    channel: str
    text: str
    url: str | None
    priority: str
    created_at: str
    updated_at: str
    expires_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "text": self.text,
            "url": self.url,
            "priority": self.priority,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
        }


class DataclassItem(Candidate):
    name = "dataclass(frozen, slots)"

    def build(self, entry_id: str, stored: str) -> Any:
        return DataclassRecord(entry_id, **json.loads(stored))

    def serialise(self, item: Any) -> bytes:
        return dumps(item.to_json()).encode()

    def new(self, inp: ItemInput) -> bytes:
        assert inp.text is not None
        item = DataclassRecord("", "lebanon", inp.text, inp.url, inp.priority or "urgent", **TIMES)
        fields = item.to_json()
        del fields["id"]
        return dumps(fields).encode()


class MsgspecItem(Candidate):
    """ticker.model.Item: msgspec reads it, the one JSON encoder of the wire writes it."""

    name = f"msgspec {msgspec.__version__} (model.Item)"

    def build(self, entry_id: str, stored: str) -> Any:
        return Item.from_stored(entry_id, stored)

    def serialise(self, item: Any) -> bytes:
        return dumps(item.to_json()).encode()

    def new(self, inp: ItemInput) -> bytes:
        assert inp.text is not None
        item = Item(
            channel="lebanon",
            text=inp.text,
            url=inp.url,
            priority=inp.priority or "urgent",
            **TIMES,
        )
        return dumps(item.stored()).encode()


class MsgspecEncoded(MsgspecItem):
    """The same, written by msgspec's encoder too: faster still, but then the wire would
    have two JSON encoders (json's writes every other body), so it is not what we do."""

    name = "msgspec, its own encoder"
    encoder = msgspec.json.Encoder()

    def serialise(self, item: Any) -> bytes:
        return self.encoder.encode(item)

    def body(self, items: list[Any]) -> bytes:
        return self.encoder.encode(
            {"channel": "lebanon", "last_event_id": ENTRY_ID, "items": items}
        )


def _attrs() -> Candidate | None:
    try:
        import attrs
    except ImportError:
        return None

    @attrs.frozen
    class AttrsRecord:
        id: str
        channel: str
        text: str
        url: str | None
        priority: str
        created_at: str
        updated_at: str
        expires_at: str

    class AttrsItem(Candidate):
        name = f"attrs {attrs.__version__}"

        def build(self, entry_id: str, stored: str) -> Any:
            return AttrsRecord(id=entry_id, **json.loads(stored))

        def serialise(self, item: Any) -> bytes:
            return dumps(attrs.asdict(item, recurse=False)).encode()

        def body(self, items: list[Any]) -> bytes:
            return dumps(
                {
                    "channel": "lebanon",
                    "last_event_id": ENTRY_ID,
                    "items": [attrs.asdict(i, recurse=False) for i in items],
                }
            ).encode()

        def new(self, inp: ItemInput) -> bytes:
            assert inp.text is not None
            item = AttrsRecord("", "lebanon", inp.text, inp.url, inp.priority or "urgent", **TIMES)
            fields = attrs.asdict(item, recurse=False)
            del fields["id"]
            return dumps(fields).encode()

    return AttrsItem()


def best_ns(work: Callable[[], object], rounds: int, repeat: int) -> float:
    """Nanoseconds per call: the best of `repeat` runs of `rounds` calls (the least
    disturbed by the other processes of the machine)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(rounds):
            work()
        best = min(best, (time.perf_counter_ns() - start) / rounds)
    return best


COLUMNS = ("build", "serialise", "snapshot", "validate")
HASH = [(f"1764451860{n:03d}-0", STORED) for n in range(100)]  # HGETALL's reply


def snapshot(candidate: Candidate) -> bytes:
    built = [candidate.build(i, raw) for i, raw in HASH]
    if isinstance(built[0], dict | Item):
        items = newest_first(built)
    else:  # msgspec's and attrs's: the same sort, by the `id` attribute
        items = sorted(built, key=lambda item: parse_event_id(item.id), reverse=True)
    return candidate.body(items)


def strings_differ() -> list[str]:
    """The code points msgspec's encoder writes otherwise than `dumps` (lone surrogates
    left out: no text that reaches an item has one)."""
    encoder = msgspec.json.Encoder()
    return [
        f"U+{cp:04X}"
        for cp in range(0x110000)
        if not 0xD800 <= cp <= 0xDFFF and encoder.encode(chr(cp)) != dumps(chr(cp)).encode()
    ]


def validate(candidate: Candidate) -> bytes:
    return candidate.new(ItemInput.parse(json.loads(BODY), partial=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50_000, help="items per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best counts")
    args = parser.parse_args()
    optional = [_attrs()]
    candidates = [DictItem(), DataclassItem(), MsgspecItem(), MsgspecEncoded()]
    candidates += [c for c in optional if c is not None]
    reference = candidates[0]
    wire = reference.serialise(reference.build(ENTRY_ID, STORED))
    stored = validate(reference)
    body = snapshot(reference)
    for c in candidates:
        same = c.serialise(c.build(ENTRY_ID, STORED)) == wire and snapshot(c) == body
        if not same or validate(c) != stored:
            print(f"{c.name}: not the same bytes as the dict", file=sys.stderr)
            return 1
    differ = strings_differ()
    if differ:
        print(f"msgspec writes {len(differ)} code points otherwise: {differ[:10]}", file=sys.stderr)
        return 1
    print(f"Python {sys.version.split()[0]}; ns per item, best of {args.repeat} x {args.rounds}")
    print(f"{'candidate':32} " + " ".join(f"{h:>14}" for h in COLUMNS))
    base: list[float] = []
    for c in candidates:
        item = c.build(ENTRY_ID, STORED)
        figures = [
            best_ns(lambda c=c: c.build(ENTRY_ID, STORED), args.rounds, args.repeat),
            best_ns(lambda c=c, item=item: c.serialise(item), args.rounds, args.repeat),
            best_ns(lambda c=c: snapshot(c), args.rounds // 100, args.repeat) / 100,
            best_ns(lambda c=c: validate(c), args.rounds // 5, args.repeat),
        ]
        base = base or figures
        cells = [f"{ns:7.0f} ({ns / b:4.2f})" for ns, b in zip(figures, base, strict=True)]
        print(f"{c.name:32} " + " ".join(f"{cell:>14}" for cell in cells))
    if None in optional:
        print("attrs is not installed, so not timed (pip install attrs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
