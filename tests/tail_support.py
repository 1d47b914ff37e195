"""`ticker tail` in a subprocess, its stdout and stderr read line by line with deadlines."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO


class TailProcess:
    """`python -m ticker tail ARGS…`; every line it prints is kept, in order, per stream."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ticker", "tail", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._new: queue.Queue[None] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(pipe, lines), daemon=True)
            for pipe, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe: IO[str], lines: list[str]) -> None:
        for line in pipe:
            lines.append(line.rstrip("\n"))
            self._new.put(None)
        self._new.put(None)  # end of file: wake a waiter so that it sees the exit

    def wait_for(
        self, lines: list[str], check: Callable[[str], bool], what: str, timeout: float = 20
    ) -> str:
        """The first line of `lines` (self.out or self.err) that passes `check`."""
        deadline = time.monotonic() + timeout
        while True:
            for line in lines:
                if check(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self._new.empty()):
                raise AssertionError(
                    f"tail never printed {what} (exit status {self.proc.poll()});\n"
                    f"stdout: {self.out}\nstderr: {self.err}"
                )
            try:
                self._new.get(timeout=min(left, 0.5))
            except queue.Empty:
                pass

    def interrupt(self, timeout: float = 20) -> int:
        """Ctrl+C, as a terminal sends it; the exit status, once `out` and `err` hold
        every line the process printed."""
        self.proc.send_signal(signal.SIGINT)
        status = self.proc.wait(timeout)
        for reader in self._readers:  # the pipes are at their end: this is quick
            reader.join(timeout)
        return status

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
