"""The OpenAPI description: complete, and true to the server."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from starlette.routing import Route

from tests.support import TickerServer
from ticker.app import create_app
from ticker.config import Settings

# HTML pages and their assets are documented in docs/desk.md and docs/widget.md.
NOT_API = ("/desk", "/widget/", "/widget-", "/static", "/favicon.ico", "/live/assets/")


def test_every_route_is_described(server: TickerServer) -> None:
    spec = httpx.get(f"{server.base}/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    app = create_app(Settings(redis_url="redis://unused"))
    described = {
        (path, method.upper())
        for path, ops in spec["paths"].items()
        for method in ops
        if method != "parameters"
    }
    for route in app.routes:
        if not isinstance(route, Route) or route.path.startswith(NOT_API):
            continue
        # A Starlette HTTPEndpoint (route.methods None) answers the methods it defines.
        methods = route.methods or {
            m.upper()
            for m in ("get", "post", "put", "patch", "delete")
            if hasattr(route.endpoint, m)
        }
        assert methods, f"{route.path}: no methods found"
        for method in methods:
            if method != "HEAD":
                assert (route.path, method) in described, f"{method} {route.path} is missing"


def test_the_server_keeps_to_its_description(server: TickerServer, token: str) -> None:
    """Schemathesis generates requests from the description: no 5xx, no response that
    breaks its schema or its documented statuses, headers and media types.

    Whether an input is accepted depends on normalisation that JSON Schema cannot
    state exactly (a text of control characters only is empty once they are removed;
    281 characters with a trailing space are 280), so the two input-acceptance checks
    are left out; tests/test_api.py checks those rules one by one.
    """
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{server.base}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection",
            # The coverage phase sends fixed header values, so it would reuse one
            # Idempotency-Key for different items (answered 422 by design).
            "--phases",
            "examples,fuzzing,stateful",
            "--exclude-path",
            "/api/v1/stream",  # endless by design; tests/test_stream.py
            "--max-examples",
            "25",
            "--request-timeout",
            "10",
            "--generation-deterministic",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks"},
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
