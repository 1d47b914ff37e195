"""`ticker serve` as an operator runs it, in the environment a test gives it (without
REDIS_URL for the embedded store): its output goes to a file, so a chatty server never
blocks on a full pipe and the output can be read at any moment; every wait has a deadline
and a failure quotes the output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support import free_port

READY_TIMEOUT = 60.0  # a loaded machine: imports, the embedded store, the first load
STOP_TIMEOUT = 60.0  # graceful shutdown (5 s) and the embedded store's SHUTDOWN (fsync)


def embedded_env(data_dir: Path) -> dict[str, str]:
    """This process's environment with no Redis named, and the embedded store's folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_SENTINELS")}
    env["TICKER_DATA_DIR"] = str(data_dir)
    return env


class ServeProcess:
    """`python -m ticker serve --port PORT` on a free port, with exactly `env`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkstemp(prefix="ticker-serve-", suffix=".log")[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> ServeProcess:
        """Start the process without waiting for it (to start several at once)."""
        with self._log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ticker", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> ServeProcess:
        """Until /readyz says the stream is ready; fails at once if the process exits."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ticker serve exited with {self.proc.returncode} before it was ready:\n"
                    f"{self.output()}"
                )
            try:
                r = httpx.get(f"{self.base}/readyz", timeout=2)
                if r.status_code == 200 and r.json().get("stream") == "ready":
                    return self
            except (httpx.HTTPError, ValueError):
                pass  # not listening yet, or not answering JSON yet
            if time.monotonic() > deadline:
                raise AssertionError(f"ticker serve not ready within {timeout} s:\n{self.output()}")
            time.sleep(0.05)

    def start(self) -> ServeProcess:
        return self.launch().wait_ready()

    def output(self) -> str:
        return self._log.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = STOP_TIMEOUT) -> int:
        """Send `sig` (Ctrl+C by default) and wait for the exit; its status."""
        assert self.proc is not None, "launch() first"
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"ticker serve did not exit within {timeout} s of {sig.name}:\n{self.output()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL if still running: for `finally`, so no process outlives its test."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        self._log.unlink(missing_ok=True)
