"""The app served by uvicorn in a thread of the test process, on a real port: for tests
that reach into the serving process (its clock), which `ticker serve` in a subprocess
does not allow."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import httpx
import uvicorn

from tests.support import free_port
from tests.waiting import wait_for
from ticker.app import create_app
from ticker.config import Settings
from ticker.publishing import clock


@contextlib.contextmanager
def app_in_thread(redis_url: str, **env: str) -> Iterator[str]:
    """The app on a free port until the block ends; yields its base URL. `env` holds
    `TICKER_*` settings, read as `ticker serve` reads them."""
    settings = Settings.from_env({"REDIS_URL": redis_url, **env})
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    # Outside the main thread uvicorn installs no signal handlers: Ctrl-C stays pytest's.
    thread = threading.Thread(target=server.run, name=f"app-{port}", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if not thread.is_alive():
            raise RuntimeError("the app's server thread ended before it was ready")
        return httpx.get(f"{base}/readyz", timeout=1).json().get("stream") == "ready"

    try:
        wait_for(ready, f"the in-process app on port {port} is ready", timeout=20)
        yield base
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "the in-process app did not stop within 15 s"


@contextlib.contextmanager
def clock_kept() -> Iterator[None]:
    """Whatever a test does to the process's clock is undone after it."""
    offset = clock.offset
    try:
        yield
    finally:
        clock.offset = offset
