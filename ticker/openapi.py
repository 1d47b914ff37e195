"""The OpenAPI 3.1 description of the public and publishing API (`/api/v1/openapi.json`).

Written out by hand from docs/api.md, the contract; tests/test_openapi.py checks
that every route of the app is in it and fuzzes the API against it. The patterns,
limits and item fields come from ticker/model.py, where the server checks them, so
the description cannot drift from the rules (tests/test_openapi_model.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ticker import __version__, model
from ticker.model import (
    IDEMPOTENCY_KEY_MAX,
    PRIORITIES,
    REASON_MAX,
    SNAPSHOT_LIMIT,
    SNAPSHOT_MAX,
    TEXT_MAX,
    TTL_MAX,
    TTL_MIN,
    URL_MAX,
    Item,
    schema_pattern,
)

EVENT_ID = {
    "type": "string",
    "pattern": schema_pattern(model.EVENT_ID),
    "example": "1764451860000-0",
}
CHANNEL_ID = {"type": "string", "pattern": schema_pattern(model.CHANNEL_ID), "example": "lebanon"}
TIME = {"type": "string", "format": "date-time", "example": "2026-11-29T21:31:00Z"}
# What the API accepts as a link: an absolute http(s) URL, or "" / null for none.
URL_IN = {
    "anyOf": [
        {
            "type": "string",
            "maxLength": URL_MAX,
            "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
            r"(?::[0-9]{1,5})?(?:[/?#][!-~]*)?$",
        },
        {"type": "string", "maxLength": 0},
        {"type": "null"},
    ]
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


UNAVAILABLE = _problem("Redis is unreachable; retry after the Retry-After header's seconds.")
CHANNEL_PARAM = {"name": "channel", "in": "path", "required": True, "schema": CHANNEL_ID}
ITEM_PARAM = {"name": "item_id", "in": "path", "required": True, "schema": EVENT_ID}
PUBLISHING_ERRORS = {
    "400": _problem("Malformed JSON."),
    "401": _problem("No or bad credentials."),
    "403": _problem("The token may not publish on this channel (or a desk CSRF failure)."),
    "404": _problem("Unknown channel or item."),
    "413": _problem("Body over 16 KiB."),
    "422": _problem("Invalid fields; `errors` names each."),
    "503": UNAVAILABLE,
}

SCHEMAS: dict[str, Any] = {
    "Item": {
        "type": "object",
        "required": list(Item.__struct_fields__),
        "additionalProperties": False,
        "properties": {
            "id": EVENT_ID,
            "channel": CHANNEL_ID,
            "text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX},
            "url": {"type": ["string", "null"], "format": "uri", "maxLength": URL_MAX},
            "priority": {"type": "string", "enum": list(PRIORITIES)},
            "created_at": TIME,
            "updated_at": TIME,
            "expires_at": TIME,
        },
    },
    "NewItem": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX},
            "url": URL_IN,
            "priority": {"type": "string", "enum": list(PRIORITIES), "default": "urgent"},
            "ttl_seconds": {"type": "integer", "minimum": TTL_MIN, "maximum": TTL_MAX},
        },
    },
    "ItemChange": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX},
            "url": URL_IN,
            "priority": {"type": "string", "enum": list(PRIORITIES)},
            "ttl_seconds": {"type": "integer", "minimum": TTL_MIN, "maximum": TTL_MAX},
        },
    },
    "Retraction": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {"type": ["string", "null"], "maxLength": REASON_MAX}},
    },
    "Channel": {
        "type": "object",
        "required": ["id", "title", "lang", "dir", "timezone", "default_ttl_seconds"],
        "properties": {
            "id": CHANNEL_ID,
            "title": {"type": "string"},
            "lang": {"type": "string", "example": "ar"},
            "dir": {"type": "string", "enum": ["rtl", "ltr"]},
            "timezone": {"type": "string", "example": "Asia/Beirut"},
            "default_ttl_seconds": {"type": "integer", "minimum": TTL_MIN, "maximum": TTL_MAX},
        },
    },
    "Snapshot": {
        "type": "object",
        "required": ["channel", "last_event_id", "items"],
        "properties": {
            "channel": CHANNEL_ID,
            "last_event_id": {
                **EVENT_ID,
                "description": "Stream from here: nothing missed, nothing twice.",
            },
            "items": {"type": "array", "items": _ref("Item"), "maxItems": SNAPSHOT_MAX},
        },
    },
    "LagReport": {
        "type": "array",
        "minItems": 1,
        "maxItems": 20,
        "items": {"type": "integer", "minimum": 0, "maximum": 60000},
        "example": [120, 95],
    },
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "Process": {
        "type": "object",
        "description": "One serving process, as its last heartbeat described it.",
        "required": [
            "id",
            "host",
            "pid",
            "version",
            "started",
            "beat_at",
            "ready",
            "log_position",
            "behind_ms",
            "subscribers",
            "channels",
            "dropped",
        ],
        "properties": {
            "id": {"type": "string", "description": "Unique per start: host-pid-random."},
            "host": {"type": "string"},
            "pid": {"type": "integer"},
            "version": {"type": "string"},
            "started": TIME,
            "beat_at": {**TIME, "description": "When it wrote this heartbeat."},
            "ready": {"type": "boolean", "description": "Its fan-out has loaded the state."},
            "log_position": {**EVENT_ID, "description": "The newest log entry it has read."},
            "behind_ms": {
                "type": "integer",
                "minimum": 0,
                "description": "How far its log position trails the log's head, in ms.",
            },
            "subscribers": {"type": "integer", "minimum": 0, "description": "Open streams."},
            "channels": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "Open streams per channel; '*' for streams of every channel.",
            },
            "dropped": {
                "type": "integer",
                "minimum": 0,
                "description": "Streams dropped as too slow since it started.",
            },
        },
    },
    "Status": {
        "type": "object",
        "required": ["time", "heartbeat_seconds", "log_head", "totals", "processes"],
        "properties": {
            "time": TIME,
            "heartbeat_seconds": {"type": "number"},
            "log_head": EVENT_ID,
            "totals": {
                "type": "object",
                "required": ["processes", "ready", "subscribers", "channels", "dropped"],
                "properties": {
                    "processes": {"type": "integer", "minimum": 0},
                    "ready": {"type": "integer", "minimum": 0},
                    "subscribers": {"type": "integer", "minimum": 0},
                    "channels": {
                        "type": "object",
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                    "dropped": {"type": "integer", "minimum": 0},
                },
            },
            "processes": {"type": "array", "items": _ref("Process")},
        },
    },
    "ChannelStats": {
        "type": "object",
        "required": ["channel", "time", "readers", "processes", "last_event_id", "items"],
        "properties": {
            "channel": CHANNEL_ID,
            "time": TIME,
            "heartbeat_seconds": {
                "type": "number",
                "description": "How often the counts change (each process's heartbeat): "
                "asking more often gives the same numbers.",
            },
            "readers": {
                "type": "integer",
                "minimum": 0,
                "description": "Streams open on this channel now, over every process "
                "(streams of every channel included).",
            },
            "processes": {"type": "integer", "minimum": 0},
            "last_event_id": EVENT_ID,
            "items": {
                "type": "array",
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["id", "delivered", "live"],
                    "properties": {
                        "id": EVENT_ID,
                        "delivered": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Streams the item went out to, over every process.",
                        },
                        "live": {
                            "type": "boolean",
                            "description": "Still live (false: retracted or expired).",
                        },
                    },
                },
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/channels": {
        "get": {
            "summary": "Every channel",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["channels"],
                        "properties": {"channels": {"type": "array", "items": _ref("Channel")}},
                    },
                    "The channels.",
                ),
                "503": UNAVAILABLE,
            },
        }
    },
    "/api/v1/channels/{channel}/items": {
        "parameters": [CHANNEL_PARAM],
        "get": {
            "summary": "The live items of a channel, newest first",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": SNAPSHOT_MAX,
                        "default": SNAPSHOT_LIMIT,
                    },
                },
                {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": _json(_ref("Snapshot"), "The snapshot, with an ETag."),
                "304": {"description": "Not modified since the ETag given."},
                "404": _problem("Unknown channel."),
                "422": _problem("limit out of range."),
                "503": UNAVAILABLE,
            },
        },
        "post": {
            "summary": "Publish an item",
            "security": [{"bearer": []}],
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("NewItem")}},
            },
            "responses": {
                "201": _json(_ref("Item"), "Published; Location names the item."),
                "200": _json(
                    _ref("Item"), "A retry with the same Idempotency-Key: the first result."
                ),
                **PUBLISHING_ERRORS,
            },
        },
    },
    "/api/v1/channels/{channel}/items/{item_id}": {
        "parameters": [CHANNEL_PARAM, ITEM_PARAM],
        "patch": {
            "summary": "Correct an item (its id stays, updated_at moves)",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("ItemChange")}},
            },
            "responses": {"200": _json(_ref("Item"), "The corrected item."), **PUBLISHING_ERRORS},
        },
        "delete": {
            "summary": "Retract an item, everywhere, live",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": _ref("Retraction")}},
            },
            "responses": {"204": {"description": "Retracted."}, **PUBLISHING_ERRORS},
        },
    },
    "/api/v1/status": {
        "get": {
            "summary": "The fleet: every live process and the totals (admins only)",
            "description": "See docs/api.md, 'Fleet status'. An --admin token, or an admin's "
            "desk session with its X-CSRF-Token.",
            "security": [{"bearer": []}],
            "responses": {
                "200": _json(_ref("Status"), "Live processes, from their heartbeats."),
                "401": _problem("No or bad credentials."),
                "403": _problem("Not an admin token or an admin's session."),
                "503": UNAVAILABLE,
            },
        }
    },
    "/api/v1/channels/{channel}/stats": {
        "parameters": [CHANNEL_PARAM],
        "get": {
            "summary": "Readers now and streams reached per live item, over every process",
            "description": "See docs/api.md, 'Reach'. Counts only, no personal data.",
            "security": [{"bearer": []}],
            "parameters": [
                {
                    "name": "items",
                    "in": "query",
                    "schema": {"type": "string", "example": "1764451860000-0,1764451800000-0"},
                    "description": "Up to 100 comma-separated item ids to count, ended ones "
                    "too; the live items when absent.",
                }
            ],
            "responses": {
                "200": _json(_ref("ChannelStats"), "The channel's reach."),
                "401": _problem("No or bad credentials."),
                "422": _problem("`items` is not a list of 1 to 100 item ids."),
                "403": _problem("The token or account may not use this channel."),
                "404": _problem("Unknown channel."),
                "503": UNAVAILABLE,
            },
        },
    },
    "/api/v1/stream": {
        "get": {
            "summary": "Server-sent events: publish, update, retract, expire, reset",
            "description": "See docs/api.md, 'The event stream'. Resume with the "
            "Last-Event-ID header or the last_event_id parameter.",
            "parameters": [
                {
                    "name": "channels",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "Comma-separated channel ids; all channels when absent.",
                },
                {"name": "last_event_id", "in": "query", "schema": EVENT_ID},
                {"name": "Last-Event-ID", "in": "header", "schema": EVENT_ID},
            ],
            "responses": {
                "200": {
                    "description": "An endless text/event-stream.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "400": _problem("Malformed event id or channel id."),
                "404": _problem("Unknown channel."),
                "503": UNAVAILABLE,
            },
        },
        "options": {
            "summary": "CORS preflight",
            "responses": {"204": {"description": "Any origin may read the stream."}},
        },
    },
    "/api/v1/beacon/lag": {
        "post": {
            "summary": "Report publish → screen lags seen by a widget (docs/api.md, 'Lag reports')",
            "description": "A JSON list of 1 to 20 whole milliseconds from 0 to 60000. "
            "Sent as text/plain by the widget (no preflight); application/json too.",
            "requestBody": {
                "required": True,
                "content": {
                    "text/plain": {"schema": {"type": "string", "example": "[120, 95]"}},
                    "application/json": {"schema": _ref("LagReport")},
                },
            },
            "responses": {
                "204": {"description": "Observed into ticker_screen_lag_seconds."},
                "400": _problem("Empty, not UTF-8 or not JSON."),
                "404": _problem("Lag reports are turned off (TICKER_LAG_REPORTS=false)."),
                "413": _problem("Body over 1 KiB."),
                "415": _problem("Neither text/plain nor application/json."),
                "422": _problem("Not a list of 1 to 20 lags from 0 to 60000 ms; `errors`."),
                "429": _problem("Over TICKER_LAG_REPORTS_PER_MINUTE from this address."),
            },
        },
        "options": {
            "summary": "CORS preflight",
            "responses": {"204": {"description": "Any origin may post application/json."}},
        },
    },
    "/feeds/{name}": {
        "get": {
            "summary": "A channel's feed: {channel}.atom, {channel}.rss or {channel}.json",
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "example": "main.atom"},
                }
            ],
            "responses": {
                "200": {
                    "description": "Atom, RSS 2.0 or JSON Feed 1.1.",
                    "content": {
                        "application/atom+xml": {},
                        "application/rss+xml": {},
                        "application/feed+json": {},
                    },
                },
                "304": {"description": "Not modified."},
                "404": _problem("Unknown channel or feed format."),
                "503": UNAVAILABLE,
            },
        }
    },
    "/widget.js": {
        "get": {
            "summary": "The <breaking-ticker> custom element (docs/widget.md)",
            "responses": {
                "200": {"description": "JavaScript.", "content": {"text/javascript": {}}},
                "304": {"description": "Not modified."},
            },
        }
    },
    "/embed/{channels}": {
        "get": {
            "summary": "The ticker of one or several channels as a page for an <iframe>, "
            "rendered on the server; the widget's options as query parameters",
            "parameters": [
                {
                    "name": "channels",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "example": "lebanon,world"},
                }
            ],
            "responses": {
                "200": {"description": "HTML.", "content": {"text/html": {}}},
                "404": {"description": "Unknown channel."},
            },
        }
    },
    "/live/{channel}": {
        "get": {
            "summary": "A channel's live items as a page for search engines and readers "
            "without JavaScript, with LiveBlogPosting structured data; live with JavaScript",
            "parameters": [
                {
                    "name": "channel",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "example": "main"},
                }
            ],
            "responses": {
                "200": {"description": "HTML, with an ETag.", "content": {"text/html": {}}},
                "304": {"description": "Not modified since the ETag given."},
                "404": {"description": "Unknown channel.", "content": {"text/html": {}}},
            },
        }
    },
    "/demo": {
        "get": {
            "summary": "A sample news page with the widget",
            "responses": {"200": {"description": "HTML.", "content": {"text/html": {}}}},
        }
    },
    "/healthz": {
        "get": {
            "summary": "The process is alive",
            "responses": {"200": _json({"type": "object"}, "Alive.")},
        }
    },
    "/readyz": {
        "get": {
            "summary": "This process can serve streams (its stream state is loaded)",
            "responses": {
                "200": _json({"type": "object"}, "Ready; `redis` tells Redis's state."),
                "503": _json({"type": "object"}, "Not ready."),
            },
        }
    },
    "/healthz/redis": {
        "get": {
            "summary": "Redis is reachable from this process",
            "responses": {
                "200": _json({"type": "object"}, "Reachable."),
                "503": _json({"type": "object"}, "Unreachable."),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {
                "200": {"description": "Prometheus text format.", "content": {"text/plain": {}}}
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
        }
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "ticker",
        "version": __version__,
        "description": "A live breaking-news ticker. The contract is docs/api.md.",
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from `ticker token create`.",
            }
        },
    },
}


async def openapi(request: Request) -> Response:
    return JSONResponse(DOCUMENT, headers={"Access-Control-Allow-Origin": "*"})


routes = [Route("/api/v1/openapi.json", openapi, methods=["GET"])]
