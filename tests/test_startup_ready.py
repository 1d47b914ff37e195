"""Ready before serving: a process answers nothing before its
stream state is loaded, and gives up with a clear error when Redis never answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from tests.support import TickerServer, free_port


def test_no_redis_exits_with_a_clear_error() -> None:
    """uvicorn serving the app directly (no `ticker serve` bootstrap before it): the
    lifespan waits for the first load, then exits saying why."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    port = free_port()
    result = subprocess.run(
        [
            *(sys.executable, "-m", "uvicorn", "--factory", "ticker.app:create_app_from_env"),
            *("--port", str(port), "--http", "ticker.stream.fastpath:StreamProtocol"),
        ],
        env={**os.environ, "REDIS_URL": dead, "TICKER_STARTUP_TIMEOUT": "1.5"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "The stream could not load its state from Redis within 1.5 s" in result.stderr
    assert "Check that Redis is running and that REDIS_URL points to it" in result.stderr


def test_a_signal_ends_the_wait_at_once() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--factory", "ticker.app:create_app_from_env"),
            *("--port", str(free_port())),
        ],
        env={**os.environ, "REDIS_URL": dead, "TICKER_STARTUP_TIMEOUT": "60"},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # the reader is trying: the lifespan is waiting
        if "stream reader lost Redis" in line:
            break
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=30)[1]
    assert time.monotonic() - started < 5
    assert proc.returncode != 0
    assert "Stopped by a signal before the stream had loaded its state from Redis" in rest


def test_ready_reports_the_stream_and_redis_apart(server: TickerServer) -> None:
    ready = httpx.get(f"{server.base}/readyz").json()
    assert ready["stream"] == "ready" and ready["reader"] == "following"
    assert ready["redis"] == "ok" and ready["epoch"]
    assert httpx.get(f"{server.base}/healthz/redis").json() == {"status": "ok", "redis": "ok"}
    assert "ticker_redis_up 1.0" in httpx.get(f"{server.base}/metrics").text
