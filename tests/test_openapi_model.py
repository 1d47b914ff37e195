"""The OpenAPI description says what ticker/model.py checks: its patterns, limits and item
fields are the model's own, so the two cannot drift apart. No server (the fuzzing of the
server against the description is tests/test_openapi.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ticker import model
from ticker.model import (
    IDEMPOTENCY_KEY_MAX,
    PRIORITIES,
    SNAPSHOT_LIMIT,
    SNAPSHOT_MAX,
    Item,
    schema_pattern,
)
from ticker.openapi import DOCUMENT

SCHEMAS = DOCUMENT["components"]["schemas"]


def parameter(path: str, method: str, name: str) -> dict[str, Any]:
    operation = DOCUMENT["paths"][path][method]
    return next(p for p in operation["parameters"] if p["name"] == name)


def test_a_schema_pattern_is_the_regex_with_ecma_s_end_of_string() -> None:
    assert schema_pattern(re.compile(r"^[a-z]{2}\Z")) == "^[a-z]{2}$"
    with pytest.raises(ValueError):
        schema_pattern(re.compile(r"^x$"))  # Python's $ also matches before a final newline


@pytest.mark.parametrize(
    ("regex", "values"),
    [
        (model.EVENT_ID, ["1-0", "1764451860000-0", "0-0", "1-", "-1", "1_0", "١-٠", "1-0-0"]),
        (model.CHANNEL_ID, ["lebanon", "a", "a" * 32, "a" * 33, "-x", "Main", "x_y", ""]),
    ],
)
def test_the_spec_s_id_patterns_accept_what_the_model_accepts(
    regex: re.Pattern[str], values: list[str]
) -> None:
    spec = schema_pattern(regex)
    for value in values:
        # Python's re for the ECMA pattern: the same syntax here (no trailing newlines).
        assert bool(re.search(spec, value)) == bool(regex.match(value)), value


def test_event_and_channel_ids_in_the_spec_are_the_model_s() -> None:
    event_id = schema_pattern(model.EVENT_ID)
    channel_id = schema_pattern(model.CHANNEL_ID)
    assert SCHEMAS["Item"]["properties"]["id"]["pattern"] == event_id
    assert SCHEMAS["Item"]["properties"]["channel"]["pattern"] == channel_id
    assert SCHEMAS["Channel"]["properties"]["id"]["pattern"] == channel_id
    items = "/api/v1/channels/{channel}/items/{item_id}"
    item_id = next(p for p in DOCUMENT["paths"][items]["parameters"] if p["name"] == "item_id")
    assert item_id["schema"]["pattern"] == event_id
    assert parameter("/api/v1/stream", "get", "last_event_id")["schema"]["pattern"] == event_id


def test_the_spec_s_item_is_the_model_s_item() -> None:
    schema = SCHEMAS["Item"]
    assert schema["required"] == list(Item.__struct_fields__)
    assert list(schema["properties"]) == list(Item.__struct_fields__)
    assert schema["properties"]["priority"]["enum"] == list(PRIORITIES)
    assert schema["properties"]["text"]["maxLength"] == model.TEXT_MAX
    assert schema["properties"]["url"]["maxLength"] == model.URL_MAX


def test_the_spec_s_limits_are_the_model_s() -> None:
    limit = parameter("/api/v1/channels/{channel}/items", "get", "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (
        1,
        SNAPSHOT_MAX,
        SNAPSHOT_LIMIT,
    )
    assert SCHEMAS["Snapshot"]["properties"]["items"]["maxItems"] == SNAPSHOT_MAX
    key = parameter("/api/v1/channels/{channel}/items", "post", "Idempotency-Key")["schema"]
    assert (key["minLength"], key["maxLength"]) == (1, IDEMPOTENCY_KEY_MAX)
    for name in ("NewItem", "ItemChange"):
        ttl = SCHEMAS[name]["properties"]["ttl_seconds"]
        assert (ttl["minimum"], ttl["maximum"]) == (model.TTL_MIN, model.TTL_MAX)
    assert SCHEMAS["Retraction"]["properties"]["reason"]["maxLength"] == model.REASON_MAX
