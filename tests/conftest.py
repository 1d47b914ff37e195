"""Shared fixtures: one redis-server and one `ticker serve` for the whole session.

Tests that need their own settings, or that kill things, start their own
servers with `tests.support`; nothing here touches the Redis on port 6379.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support import (
    RedisServer,
    TickerServer,
    cli,
    make_token,
    suite_server,
    wait_for_channel,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

_names = itertools.count()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def server(redis_server: RedisServer) -> Iterator[TickerServer]:
    ticker = suite_server(redis_server.url).start()
    yield ticker
    ticker.stop()


@pytest.fixture(scope="session")
def token(redis_server: RedisServer) -> str:
    return make_token(redis_server.url, "tests")


@pytest.fixture
def channel(redis_server: RedisServer, server: TickerServer) -> str:
    """A fresh channel per test, so tests never see each other's items."""
    name = f"t{next(_names)}-{id(object()) % 100000}"
    cli(redis_server.url, "channel", "add", name, "--title", f"Test {name}")
    # The server learns of channels through the log; a test that starts before it has
    # would get 404s, so wait (and fail here, saying why, if it never does).
    wait_for_channel(server.base, name)
    return name


@pytest.fixture
def api(server: TickerServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


# Browser tests: Debian's Chromium driven by Playwright (it cannot download a browser here).

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module; use sync tests. Playwright's sync API keeps an event loop
    running while it lives, so it must not outlive the module: async tests of later
    modules could not start theirs."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots and other files a person should look at after a run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
