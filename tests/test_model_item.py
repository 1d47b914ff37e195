"""ticker/model.py's item, event types and the rules with one home there: the typed Item
and its JSON (which must stay the bytes the wire has always carried), newest-first
order, GET /items's limit, and the password length. No server."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticker.desk.passwords import WeakPassword, check_new_password
from ticker.model import (
    PASSWORD_MIN,
    SNAPSHOT_LIMIT,
    SNAPSHOT_MAX,
    EventType,
    FieldError,
    Item,
    check_limit,
    check_text,
    check_url,
    newest_first,
)
from ticker.store import dumps

FIELDS = ["id", "channel", "text", "url", "priority", "created_at", "updated_at", "expires_at"]
STORED = (
    '{"channel":"lebanon","text":"الممثل الإقليمي لمنظمة الفاو: فتح ممرات قليل جدا",'
    '"url":null,"priority":"urgent","created_at":"2026-11-29T21:31:00Z",'
    '"updated_at":"2026-11-29T21:31:00Z","expires_at":"2026-11-30T03:31:00Z"}'
)


def an_item(item_id: str = "1764451860000-0", **changes: str | None) -> Item:
    return msgspec.structs.replace(Item.from_stored(item_id, STORED), **changes)


# The item and its JSON


def test_an_item_has_the_fields_of_docs_api_md_in_their_order() -> None:
    assert list(Item.__struct_fields__) == FIELDS
    assert list(an_item().to_json()) == FIELDS
    assert list(an_item().stored()) == FIELDS[1:]  # Redis keeps the id as the hash field


def test_a_stored_item_read_and_written_again_is_the_same_bytes() -> None:
    item = Item.from_stored("1764451860000-0", STORED)
    assert dumps(item.stored()) == STORED
    # What GET /items and the stream sent before the item was typed: the id put first.
    assert dumps(item.to_json()) == dumps({"id": "1764451860000-0", **json.loads(STORED)})


@given(
    text=st.text(min_size=1, max_size=300),
    url=st.none() | st.sampled_from(["https://example.com/أخبار?q=1#x", "http://e.com"]),
    priority=st.sampled_from(["urgent", "normal"]),
)
def test_every_item_round_trips_through_its_stored_json_and_its_public_json(
    text: str, url: str | None, priority: str
) -> None:
    try:
        clean = check_text(text)
    except FieldError:
        return  # not an item anyone could publish
    item = an_item(text=clean, url=check_url(url), priority=priority)
    stored = dumps(item.stored())
    assert Item.from_stored(item.id, stored) == item
    assert Item.from_json(json.loads(dumps(item.to_json()))) == item
    assert dumps(item.to_json()) == dumps({"id": item.id, **json.loads(stored)})


def test_an_item_before_publishing_has_no_id_and_the_log_gives_it_one() -> None:
    fresh = Item(
        channel="c",
        text="t",
        url=None,
        priority="normal",
        created_at="2026-11-29T21:31:00Z",
        updated_at="2026-11-29T21:31:00Z",
        expires_at="2026-11-29T22:31:00Z",
    )
    assert fresh.id == ""
    assert "id" not in fresh.stored()


def test_an_item_is_immutable() -> None:
    item = an_item()
    with pytest.raises(AttributeError):
        item.text = "changed"  # type: ignore[misc]
    assert hash(item) == hash(an_item())


def test_a_stored_item_missing_a_field_is_refused_not_guessed() -> None:
    broken = json.loads(STORED)
    del broken["expires_at"]
    with pytest.raises(msgspec.ValidationError, match="expires_at"):
        Item.from_stored("1-0", json.dumps(broken))
    with pytest.raises(msgspec.ValidationError):
        Item.from_json({"id": 5, **json.loads(STORED)})


def test_an_item_is_corrected_once_updated_after_it_was_created() -> None:
    assert not an_item().corrected
    assert an_item(updated_at="2026-11-29T21:35:00Z").corrected


# Newest first


def test_newest_first_compares_ids_as_numbers_not_strings() -> None:
    ids = ["9-0", "10-0", "10-1", "1764451860000-0", "2-5"]
    items = [an_item(i) for i in ids]
    want = ["1764451860000-0", "10-1", "10-0", "9-0", "2-5"]
    assert [i.id for i in newest_first(items)] == want
    # The fan-out keeps items as their JSON: the same order for those.
    assert [d["id"] for d in newest_first(i.to_json() for i in items)] == want
    assert newest_first([]) == []


# Event types


def test_the_event_types_are_the_stream_events_of_docs_api_md() -> None:
    assert [t.value for t in EventType] == ["publish", "update", "retract", "expire"]


def test_an_event_type_is_its_bare_string_as_the_log_carries_it() -> None:
    assert EventType("retract") is EventType.RETRACT
    assert EventType.PUBLISH == "publish" and "update" in set(EventType)
    assert f"{EventType.EXPIRE}" == "expire"
    assert json.dumps(EventType.UPDATE) == '"update"'
    for not_public in ("reset", "epoch", "channel", "Publish"):
        with pytest.raises(ValueError):
            EventType(not_public)


# GET /items's limit


@pytest.mark.parametrize(
    ("raw", "limit"), [(None, SNAPSHOT_LIMIT), ("1", 1), ("020", 20), ("100", SNAPSHOT_MAX)]
)
def test_limits_that_get_items_takes(raw: str | None, limit: int) -> None:
    assert check_limit(raw) == limit


@pytest.mark.parametrize("bad", ["0", "101", "", " 5", "-1", "1.0", "١٠", "5e1", "9" * 12])
def test_limits_that_get_items_refuses(bad: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_limit(bad)
    assert caught.value.field == "limit"
    assert caught.value.message == f"must be a whole number from 1 to {SNAPSHOT_MAX}"


# The password length: one number (tests/test_desk_passwords.py: every page and message
# that states it says this one)


def test_a_new_password_has_at_least_password_min_characters() -> None:
    varied = "Zq7!vB2@xL9#mK4$wR8%" * 2  # no common password, nothing repeated within
    with pytest.raises(WeakPassword) as caught:
        check_new_password(varied[: PASSWORD_MIN - 1])
    assert caught.value.reason == "short"
    check_new_password(varied[:PASSWORD_MIN])  # raises nothing
