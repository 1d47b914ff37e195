"""Schemathesis hooks for tests/test_openapi.py.

A fresh Idempotency-Key per generated request: reusing a key for a different
request is answered with 422 by design (as the IETF Idempotency-Key draft says),
which a fuzzer that picks keys at random would report as a valid request refused.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis


@schemathesis.hook("map_headers")
def fresh_idempotency_key(context: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    if headers is not None and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    return headers
