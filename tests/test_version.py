"""One version (ticker/__init__.py) everywhere it shows: the OpenAPI document and the
metrics here; `ticker --version` in tests/test_cli.py, the wheel's metadata in
tests/test_packaging.py."""

from __future__ import annotations

import httpx

from tests.support import TickerServer
from ticker import __version__


def test_openapi_info_version_is_the_package_version(server: TickerServer) -> None:
    spec = httpx.get(f"{server.base}/api/v1/openapi.json").json()
    assert spec["info"]["version"] == __version__


def test_build_info_metric_names_the_version(server: TickerServer) -> None:
    text = httpx.get(f"{server.base}/metrics").text
    assert f'ticker_build_info{{version="{__version__}"}} 1.0' in text.splitlines()
