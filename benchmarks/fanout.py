#!/usr/bin/env python3
"""Fan-out benchmark: N server-sent-event subscribers on `ticker serve`, and on nginx + Nchan.

For each server and each N it starts the server afresh (ticker: a private redis-server
and `ticker serve`; Nchan: nginx with Debian's libnginx-mod-nchan, memory storage),
connects N subscribers with the C load client (benchmarks/sse_load.c, built on demand),
measures the server's CPU for connecting them and its memory per idle subscriber,
publishes M items at a fixed rate and measures publish→receive latency, fan-out
completion time and server CPU per delivery; then a POST sent while a fan-out is in
progress, optionally a burst (the throughput), and a resume of every subscriber with
Last-Event-ID. Every delivery is checked: each subscriber must get every message
exactly once, in order.

    python benchmarks/fanout.py                      # ticker, N = 1000 and 5000
    python benchmarks/fanout.py --compare            # ticker, ticker --workers 2, Nchan;
                                                     # N = 1000 5000 10000 19000

See benchmarks/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
CLIENT_SRC = HERE / "sse_load.c"
CLIENT_BIN = HERE / "bin" / "sse_load"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CHANNEL = "main"
# About the size of a real breaking-news line (right-to-left text, ~110 characters).
TEXT = "عاجل | الممثل الإقليمي لمنظمة الفاو: فتح ممرات إنسانية قليل جدا مقارنة بالحاجة"
NCHAN_PACKAGES = ("nginx", "libnginx-mod-nchan")
PAIR_DELAY_S = 0.010  # the second POST of a pair goes out this long after the first
PAIR_GAP_S = 1.0  # between pairs
RESUME_MISSED = 5  # messages published while every subscriber is away

SERVERS = {
    # name: (kind, worker processes)
    "ticker": ("ticker", 1),
    "ticker-w2": ("ticker", 2),
    "nchan": ("nchan", 1),
}


# With --gc-trace, the server imports this (as sitecustomize, from a temporary folder put
# on its PYTHONPATH; nothing in the repository changes) and logs every collection of the
# cyclic garbage collector: "<end time µs> <generation> <pause µs>".
GC_TRACE = """\
import gc, os, sys, time
if "serve" in sys.argv and os.environ.get("TICKER_BENCH_GC_LOG"):
    _log = open(os.environ["TICKER_BENCH_GC_LOG"], "a", buffering=1)
    _start = [0.0]

    def _trace(phase, info):
        if phase == "start":
            _start[0] = time.perf_counter()
        else:
            pause = int((time.perf_counter() - _start[0]) * 1e6)
            _log.write(f"{time.time_ns() // 1000} {info['generation']} {pause}\\n")

    gc.callbacks.append(_trace)
"""

NGINX_CONF = """\
# Written by benchmarks/fanout.py: Nchan with settings equivalent to `ticker serve`.
load_module {module};
worker_processes 1;
worker_rlimit_nofile {nofile};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections {connections};
}}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Memory storage (no Redis), a message buffer as long as ticker's ring.
    nchan_max_reserved_memory 256M;
    server {{
        listen 127.0.0.1:{port} backlog=2048;  # uvicorn's default backlog
        location = /sub {{
            nchan_subscriber eventsource;
            nchan_channel_id {channel};
            nchan_subscriber_first_message newest;
            # A `:ping` comment every 10 s, like ticker's `: ping` (TICKER_PING_SECONDS).
            nchan_eventsource_ping_interval 10;
            nchan_eventsource_ping_comment "ping";
            nchan_eventsource_ping_event "";
        }}
        location = /pub {{
            nchan_publisher;
            nchan_channel_id {channel};
            nchan_message_buffer_length 10000;  # TICKER_RING_SIZE
            nchan_message_timeout 48h;          # TICKER_RETENTION_SECONDS
            client_body_buffer_size 16k;
        }}
    }}
}}
"""


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which."""


# Processes


class Processes:
    """Every child process the driver starts, stopped (by pid) on any exit path."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        # Own session: a Ctrl+C in the terminal reaches only the driver, which then
        # stops its children in order.
        proc: subprocess.Popen[bytes] = subprocess.Popen(
            list(argv),
            start_new_session=True,
            **kwargs,  # type: ignore[call-overload]
        )
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 8.0) -> None:
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def stop_all(self) -> None:
        while self.procs:
            _name, proc = self.procs.pop()
            self.stop(proc)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in (6379, 80):
            return port


def pin(cpu: int | None) -> list[str]:
    if cpu is None:
        return []
    return ["taskset", "-c", str(cpu)]


def build_client() -> Path:
    if CLIENT_BIN.exists() and CLIENT_BIN.stat().st_mtime >= CLIENT_SRC.stat().st_mtime:
        return CLIENT_BIN
    CLIENT_BIN.parent.mkdir(exist_ok=True)
    cmd = ["gcc", "-O2", "-Wall", "-o", str(CLIENT_BIN), str(CLIENT_SRC)]
    print("building:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return CLIENT_BIN


def ticker_executable() -> str:
    beside = Path(sys.executable).parent / "ticker"
    found = str(beside) if beside.exists() else shutil.which("ticker")
    if not found:
        raise BenchError("no `ticker` command: activate the virtualenv (pip install -e .)")
    return found


def nchan_module() -> Path | None:
    """The path of Debian's ngx_nchan_module.so, if nginx and the module are installed."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        return None
    modules = Path("/usr/lib/nginx/modules")
    done = subprocess.run([nginx, "-V"], capture_output=True, text=True)
    for word in done.stderr.split():
        if word.startswith("--modules-path="):
            modules = Path(word.split("=", 1)[1])
    module = modules / "ngx_nchan_module.so"
    return module if module.exists() else None


def ensure_nchan() -> Path:
    """Install nginx and libnginx-mod-nchan from Debian's packages when missing."""
    module = nchan_module()
    if module is not None:
        return module
    if shutil.which("apt-get") is None:
        raise BenchError("Nchan is not installed and there is no apt-get to install it")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {' '.join(NCHAN_PACKAGES)} with apt-get ...", flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *NCHAN_PACKAGES],
        check=True,
        env=env,
    )
    module = nchan_module()
    if module is None:
        raise BenchError("apt-get installed nginx but ngx_nchan_module.so is not there")
    return module


# /proc


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return sorted(out)


def cpu_ns(pids: Sequence[int]) -> int:
    """CPU time of processes (every thread), in ns: sum_exec_runtime from schedstat,
    which is utime + stime without the 10 ms tick resolution."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def user_system_s(pids: Sequence[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of processes, from /proc/PID/stat (10 ms ticks)."""
    user = system = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        user += int(fields[11])
        system += int(fields[12])
    return user / CLK_TCK, system / CLK_TCK


def core_busy_s(cpu: int | None) -> float:
    """Seconds CPU `cpu` spent busy (user, nice, system, irq, softirq, steal), from /proc/stat."""
    if cpu is None:
        return 0.0
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            f = [int(x) for x in line.split()[1:]]
            return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / CLK_TCK
    return 0.0


def rss_kib(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def socket_count(pid: int) -> int:
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu_model()}; "
        f"Linux {platform.release()}; Python {platform.python_version()}"
    )


def wait_quiet(pids: Sequence[int], settle_ms: float = 2.0, timeout: float = 20.0) -> int:
    """Wait until the processes use (almost) no CPU for two 100 ms samples; their CPU in
    ns from the call until then."""
    start = last = cpu_ns(pids)
    quiet = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and quiet < 2:
        time.sleep(0.1)
        now = cpu_ns(pids)
        quiet = quiet + 1 if now - last < settle_ms * 1e6 else 0
        last = now
    return last - start


# Servers


def text(seq: int) -> str:
    return f"{TEXT} [seq:{seq}]"


class HttpPublisher:
    """POSTs over one persistent HTTP/1.1 connection; `fresh()` reopens it (uvicorn
    closes a keep-alive connection after 5 idle seconds) right before a timed phase."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.retries = 0
        self.payload_bytes = 0
        self.unavailable: list[tuple[int, int, str]] = []  # (seq, ms to the 503, detail)

    def fresh(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(
        self, path: str, body: bytes, headers: dict[str, str], retry: bool
    ) -> tuple[int, bytes, int, int]:
        """(status, payload, send time in CLOCK_REALTIME µs, round trip in µs)."""
        for attempt in (1, 2):
            sent = time.time_ns() // 1000
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                if attempt == 2 or not retry:
                    raise
                self.retries += 1
                self.conn.close()
        return response.status, payload, sent, time.time_ns() // 1000 - sent

    def publish(self, seq: int) -> tuple[int, int]:
        raise NotImplementedError

    def close(self) -> None:
        self.conn.close()


class TickerPublisher(HttpPublisher):
    """`POST /api/v1/channels/main/items` with a bearer token and an Idempotency-Key,
    so the one retry after a dropped connection cannot publish twice."""

    def __init__(self, port: int, token: str, tag: str) -> None:
        super().__init__(port)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.tag = tag

    def publish(self, seq: int) -> tuple[int, int]:
        body = json.dumps({"text": text(seq)}).encode()
        headers = {**self.headers, "Idempotency-Key": f"bench-{os.getpid()}-{self.tag}-{seq}"}
        first_sent = 0
        for attempt in range(1, 4):
            status, payload, sent, rtt = self.request(
                f"/api/v1/channels/{CHANNEL}/items", body, headers, retry=True
            )
            first_sent = first_sent or sent
            if status != 503 or attempt == 3:
                break
            # The API's Redis call timed out (TICKER_REDIS_TIMEOUT): the same
            # Idempotency-Key makes the retry safe whether or not the first one published.
            self.unavailable.append((seq, rtt // 1000, payload[:200].decode(errors="replace")))
            time.sleep(0.2)
        if status not in (200, 201):
            raise BenchError(f"publish answered {status}: {payload[:300]!r}")
        self.payload_bytes = len(payload)  # the item, as the stream's data: line carries it
        return first_sent, time.time_ns() // 1000 - first_sent


def nchan_body(seq: int) -> bytes:
    """What ticker's stream carries as an item's data, byte for byte the same shape and size."""
    now = time.time()

    def iso(t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    item = {
        "id": f"{int(now * 1000)}-0",
        "channel": CHANNEL,
        "text": text(seq),
        "url": None,
        "priority": "urgent",
        "created_at": iso(now),
        "updated_at": iso(now),
        "expires_at": iso(now + 6 * 3600),
    }
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()


class NchanPublisher(HttpPublisher):
    """`POST /pub` with the item as the body (no retry: Nchan has no idempotency keys)."""

    def publish(self, seq: int) -> tuple[int, int]:
        body = nchan_body(seq)
        status, payload, sent, rtt = self.request(
            "/pub", body, {"Content-Type": "application/json"}, retry=False
        )
        if status not in (201, 202):
            raise BenchError(f"Nchan publish answered {status}: {payload[:300]!r}")
        self.payload_bytes = len(body)
        return sent, rtt


class Server:
    """One server under test, started fresh for each N."""

    name = ""
    stream_path = ""
    proc: subprocess.Popen[bytes]
    port = 0
    log_name = "server.log"

    def __init__(
        self, procs: Processes, workdir: Path, cpu: int | None, other_cpu: int | None
    ) -> None:
        self.procs = procs
        self.workdir = workdir
        self.cpu = cpu
        self.other_cpu = other_cpu
        self.pids: list[int] = []

    def start(self) -> None:
        raise NotImplementedError

    def publisher(self, tag: str) -> HttpPublisher:
        raise NotImplementedError

    def tail(self, lines: int = 20) -> str:
        path = self.workdir / self.log_name
        if not path.exists():
            return "(no server log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def warnings(self) -> list[str]:
        return []

    def workers(self) -> list[int]:
        """The processes that hold connections (for the split of subscribers)."""
        return self.pids


class TickerServer(Server):
    stream_path = f"/api/v1/stream?channels={CHANNEL}"

    def __init__(
        self,
        procs: Processes,
        workdir: Path,
        cpu: int | None,
        other_cpu: int | None,
        workers: int,
        gc_trace: bool,
    ) -> None:
        super().__init__(procs, workdir, cpu, other_cpu)
        self.n_workers = workers
        self.name = "ticker" if workers == 1 else f"ticker-w{workers}"
        self.gc_trace = gc_trace
        self.token = ""

    def start(self) -> None:
        redis_port = start_redis(self.procs, self.workdir, self.other_cpu)
        env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
        for name in ("TICKER_WORKERS", "TICKER_PORT", "TICKER_HOST"):
            env.pop(name, None)
        if self.gc_trace:
            (self.workdir / "gctrace").mkdir()
            (self.workdir / "gctrace" / "sitecustomize.py").write_text(GC_TRACE)
            path = os.pathsep.join(
                filter(None, [str(self.workdir / "gctrace"), env.get("PYTHONPATH")])
            )
            env["PYTHONPATH"] = path
            env["TICKER_BENCH_GC_LOG"] = str(self.workdir / "gc.log")
        self.env = env
        self.port = free_port()
        argv = [*pin(self.cpu), ticker_executable(), "serve", "--port", str(self.port)]
        if self.n_workers > 1:
            argv += ["--workers", str(self.n_workers)]
        with open(self.workdir / "server.log", "wb") as log:
            self.proc = self.procs.start(
                self.name, argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
            )
        deadline = time.monotonic() + 60
        url = f"http://127.0.0.1:{self.port}/readyz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"ticker serve exited ({self.proc.returncode}):\n{self.tail()}")
            log_text = (self.workdir / "server.log").read_text(errors="replace")
            if log_text.count("fan-out ready") >= self.n_workers:
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if json.load(response).get("stream") == "ready":
                            break
                except (OSError, urllib.error.URLError, ValueError):
                    pass
            time.sleep(0.1)
        else:
            raise BenchError(f"ticker serve not ready after 60 s:\n{self.tail()}")
        self.pids = descendants(self.proc.pid)
        done = subprocess.run(
            [ticker_executable(), "token", "create", "--name", "bench"],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if done.returncode != 0:
            raise BenchError(f"ticker token create failed: {done.stderr.strip()}")
        self.token = done.stdout.strip().splitlines()[-1].strip()

    def publisher(self, tag: str) -> HttpPublisher:
        return TickerPublisher(self.port, self.token, tag)

    def workers(self) -> list[int]:
        if self.n_workers == 1:
            return [self.proc.pid]
        return [p for p in self.pids if p != self.proc.pid and socket_count(p) > 0]

    def warnings(self) -> list[str]:
        out = []
        for line in (self.workdir / "server.log").read_text(errors="replace").splitlines():
            if line.startswith(("WARNING", "ERROR", "CRITICAL")) or "Traceback" in line:
                out.append(f"server log: {line[:200]}")
        if self.proc.poll() is not None:
            out.append(f"server exited with {self.proc.returncode} during the run")
        return out


class NchanServer(Server):
    name = "nchan"
    stream_path = "/sub"
    log_name = "error.log"

    def __init__(
        self, procs: Processes, workdir: Path, cpu: int | None, other_cpu: int | None, module: Path
    ) -> None:
        super().__init__(procs, workdir, cpu, other_cpu)
        self.module = module

    def start(self) -> None:
        self.port = free_port()
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        nofile = hard if hard != resource.RLIM_INFINITY else 65536
        conf = self.workdir / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                module=self.module,
                dir=self.workdir,
                port=self.port,
                channel=CHANNEL,
                nofile=nofile,
                # Slots, not descriptors: nginx starts closing "reusable" connections
                # (an idle keep-alive publisher, fresh subscribers) once fewer than 1/16 of
                # them are free, which N = 19,000 out of 19,984 slots reached. 32768 slots
                # keep the drain away; the descriptors stay under `nofile`.
                connections=max(32768, nofile * 17 // 15),
            )
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        argv = [*pin(self.cpu), nginx, "-p", str(self.workdir),
                "-e", str(self.workdir / "error.log"),
                "-c", str(conf), "-g", "daemon off;"]  # fmt: skip
        with open(self.workdir / "nginx.out", "wb") as log:
            self.proc = self.procs.start("nginx", argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = (self.workdir / "nginx.out").read_text(errors="replace")
                raise BenchError(f"nginx exited ({self.proc.returncode}):\n{out}\n{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                if len(descendants(self.proc.pid)) >= 2:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise BenchError(f"nginx did not listen on {self.port}:\n{self.tail()}")
        self.pids = descendants(self.proc.pid)

    def publisher(self, tag: str) -> HttpPublisher:
        return NchanPublisher(self.port)

    def workers(self) -> list[int]:
        return [p for p in self.pids if p != self.proc.pid] or self.pids

    def warnings(self) -> list[str]:
        out = []
        path = self.workdir / "error.log"
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if "exceed open file resource limit" in line:
                    continue  # expected: see worker_connections in NGINX_CONF
                if any(
                    f"[{level}]" in line for level in ("warn", "error", "crit", "alert", "emerg")
                ):
                    out.append(f"nginx: {line[:200]}")
        if self.proc.poll() is not None:
            out.append(f"nginx exited with {self.proc.returncode} during the run")
        return out


def start_redis(procs: Processes, workdir: Path, cpu: int | None) -> int:
    port = free_port()
    with open(workdir / "redis.log", "wb") as log:
        procs.start(
            "redis",
            [
                *pin(cpu),
                "redis-server",
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return port
        except OSError:
            pass
        time.sleep(0.05)
    raise BenchError(f"redis-server did not answer on port {port}: see {workdir / 'redis.log'}")


# The load client


class LoadClient:
    def __init__(
        self, procs: Processes, server: Server, n: int, out: Path, cpu: int | None, pending: int
    ) -> None:
        self.out = out
        self.proc = procs.start(
            "sse_load",
            [
                *pin(cpu),
                str(build_client()),
                "-p", str(server.port),
                "-u", server.stream_path,
                "-n", str(n),
                "-o", str(out),
                "-c", str(pending),
                "-t", "120",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        self._buf = b""

    def line(self, prefix: str, timeout: float) -> list[str]:
        """Wait for the next stdout line starting with `prefix`; its fields after it."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buf:
                raw, self._buf = self._buf.split(b"\n", 1)
                words = raw.decode().split()
                if words and words[0] == prefix:
                    return words[1:]
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"sse_load: no {prefix} line within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise BenchError(f"sse_load exited ({self.proc.wait()}) before {prefix}")
                self._buf += chunk

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def wait(self, m: int, timeout: float = 30) -> tuple[bool, int]:
        """(every live subscriber has m messages, comment lines seen so far)."""
        self.command(f"WAIT {m} {timeout:g}")
        done, comments = self.line("COMPLETE", timeout + 30)
        return done == "1", int(comments)


# One run


@dataclass
class Result:
    server: str
    n: int
    connected: int = 0
    connect_s: float = 0.0
    connect_cpu_us: float = 0.0  # per subscriber
    split: str = ""  # subscribers per worker process
    rss_before_kib: int = 0
    rss_idle_kib: int = 0
    idle_cpu_pct: float = 0.0
    payload_bytes: int = 0
    # phase A: M messages at the rate
    published: int = 0
    publish_s: float = 0.0
    post_rtt_ms: float = 0.0
    sent_rate: float = 0.0
    lat_us: list[int] = field(default_factory=list)
    fanout_us: list[int] = field(default_factory=list)
    per_message: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    cpu_us: float = 0.0  # per delivery
    deliveries_a: int = 0
    client_busy_pct: float = 0.0
    comments_a: int = 0  # `: ping` comments the subscribers got while publishing
    foreign_pct: float | None = None  # others' use of the server's CPU while publishing
    # (user, kernel) shares of the server's CPU: connecting (µs per subscriber) and
    # publishing (µs per delivery), from utime/stime
    connect_split: tuple[float, float] = (0.0, 0.0)
    publish_split: tuple[float, float] = (0.0, 0.0)
    # phase D: POSTs sent while a fan-out is in progress
    pair_first_rtt_ms: list[float] = field(default_factory=list)
    pair_second_rtt_ms: list[float] = field(default_factory=list)
    pair_second_delay_ms: list[float] = field(default_factory=list)
    pair_fanout_ms: list[float] = field(default_factory=list)  # of the first of each pair
    # phase S: a burst, as fast as the server takes POSTs
    burst: int = 0
    burst_rate: float = 0.0  # POSTs per second
    burst_deliveries_per_s: float = 0.0  # wall clock, first send to last receipt
    burst_cpu_us: float = 0.0  # per delivery
    burst_client_busy_pct: float = 0.0
    # phase C: everybody away, RESUME_MISSED published, everybody back with Last-Event-ID
    disconnect_cpu_us: float = 0.0  # per subscriber
    resumed: int = 0
    resume_s: float = 0.0  # RESUME to the last response head
    resume_done_s: float = 0.0  # RESUME to the last missed message received
    resume_cpu_us: float = 0.0  # per subscriber, until every missed message was received
    resume_resets: int = 0
    resume_exact: int = 0  # subscribers that got exactly the missed messages after RESUME
    # checks over every phase
    total_published: int = 0
    deliveries: int = 0
    expected: int = 0
    missing: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    dropped: int = 0
    unavailable: int = 0  # POSTs answered 503 (then retried)
    complete: bool = True
    failed: str = ""  # the run stopped with this error
    stats: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    gc_pauses: list[tuple[int, int, int]] | None = None  # (end µs, generation, pause µs)
    window_us: tuple[int, int] = (0, 0)  # the publish phase, CLOCK_REALTIME µs


@dataclass
class Plan:
    messages: int
    rate: float
    idle_s: float
    pending: int
    pairs: int
    burst: int
    burst_at: Sequence[int]
    resume: bool
    gc_trace: bool
    py_spy: Path | None = None
    py_spy_phase: str = "publish"


def percentile(sorted_values: Sequence[int | float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class Profiler:
    """py-spy on the ticker server's processes during one phase (--py-spy DIR): collapsed
    stacks (flame-graph input), one file per process. Profiling slows the server down:
    a profiled run's figures are not comparable with the others."""

    def __init__(self, plan: Plan, server: Server, procs: Processes, n: int) -> None:
        self.plan = plan
        self.server = server
        self.procs = procs
        self.n = n
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, phase: str) -> None:
        if self.plan.py_spy is None or phase != self.plan.py_spy_phase:
            return
        if not isinstance(self.server, TickerServer):
            return
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.plan.py_spy.mkdir(parents=True, exist_ok=True)
        for pid in self.server.workers():
            out = self.plan.py_spy / f"{self.server.name}-{self.n}-{phase}-{pid}.txt"
            argv = [spy, "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
                    "--format", "raw", "--output", str(out)]  # fmt: skip
            self.running.append(
                self.procs.start(
                    "py-spy", argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        time.sleep(1.0)  # py-spy attaches

    def stop(self, phase: str) -> None:
        if phase != self.plan.py_spy_phase:
            return
        for proc in self.running:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.running = []


def make_server(
    name: str,
    procs: Processes,
    workdir: Path,
    cpus: tuple[int, int] | None,
    pinned: bool,
    gc_trace: bool,
    module: Path | None,
) -> Server:
    kind, workers = SERVERS[name]
    server_cpu, other_cpu = cpus if cpus else (None, None)
    if not pinned:
        server_cpu = None
    if kind == "nchan":
        assert module is not None
        return NchanServer(procs, workdir, server_cpu, other_cpu, module)
    return TickerServer(procs, workdir, server_cpu, other_cpu, workers, gc_trace)


def run_one(
    name: str,
    n: int,
    plan: Plan,
    cpus: tuple[int, int] | None,
    pinned: bool = True,
    module: Path | None = None,
) -> Result:
    result = Result(name if pinned else f"{name} (unpinned)", n)
    other_cpu = cpus[1] if cpus else None
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="ticker-bench-") as tmp:
        workdir = Path(tmp)
        server = make_server(name, procs, workdir, cpus, pinned, plan.gc_trace, module)
        try:
            server.start()
            pids = server.pids
            prof = Profiler(plan, server, procs, n)
            pub = server.publisher("a")
            pub2 = server.publisher("b")
            sent: dict[int, int] = {}
            order: list[int] = []
            try:
                pub.fresh()
                pub.publish(0)  # warm-up: the first request's one-off costs
                time.sleep(0.5)
                result.rss_before_kib = rss_kib(pids)

                # Connect N.
                prof.start("connect")
                workers = server.workers()
                sockets0 = [socket_count(p) for p in workers]
                cpu0 = cpu_ns(pids)
                us0 = user_system_s(pids)
                client = LoadClient(procs, server, n, workdir / "recv.txt", other_cpu, plan.pending)
                ready, connect_s, _failed, _resets = client.line("READY", 180)
                result.connected, result.connect_s = int(ready), float(connect_s)
                connect_ns = cpu_ns(pids) - cpu0 + wait_quiet(pids)
                us1 = user_system_s(pids)
                result.connect_split = (
                    (us1[0] - us0[0]) * 1e6 / max(result.connected, 1),
                    (us1[1] - us0[1]) * 1e6 / max(result.connected, 1),
                )
                prof.stop("connect")
                result.connect_cpu_us = connect_ns / 1000 / max(result.connected, 1)
                if result.connected < n:
                    result.warnings.append(f"only {result.connected} of {n} subscribers connected")
                if len(workers) > 1:
                    result.split = "/".join(
                        str(socket_count(p) - s0) for p, s0 in zip(workers, sockets0, strict=True)
                    )

                cpu0 = cpu_ns(pids)
                time.sleep(plan.idle_s)
                result.rss_idle_kib = rss_kib(pids)
                result.idle_cpu_pct = 100 * (cpu_ns(pids) - cpu0) / 1e9 / plan.idle_s

                # Phase A: M messages at the rate.
                seq = 0
                rtts: list[int] = []
                prof.start("publish")
                pub.fresh()
                _, comments0 = client.wait(0, 1)
                cpu0 = cpu_ns(pids)
                us0 = user_system_s(pids)
                core0 = core_busy_s(server.cpu)
                client_ticks = cpu_ticks(client.proc.pid)
                start = time.monotonic()
                window_start = time.time_ns() // 1000
                phase_a: list[int] = []
                for i in range(plan.messages):
                    delay = start + i / plan.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    seq += 1
                    sent_us, rtt = pub.publish(seq)
                    sent[seq] = sent_us
                    order.append(seq)
                    phase_a.append(seq)
                    rtts.append(rtt)
                result.publish_s = time.monotonic() - start
                complete, comments1 = client.wait(seq)
                result.complete &= complete
                cpu_a = cpu_ns(pids) - cpu0
                us_a = user_system_s(pids)
                us_a = (us_a[0] - us0[0], us_a[1] - us0[1])
                if server.cpu is not None:
                    # Busy time of the server's CPU that was not the server's own.
                    other_s = core_busy_s(server.cpu) - core0 - cpu_a / 1e9
                    result.foreign_pct = max(0.0, 100 * other_s / (time.monotonic() - start))
                prof.stop("publish")
                busy_s = (cpu_ticks(client.proc.pid) - client_ticks) / CLK_TCK
                result.client_busy_pct = 100 * busy_s / (time.monotonic() - start)
                result.comments_a = comments1 - comments0
                result.window_us = (window_start, time.time_ns() // 1000)
                result.published = len(phase_a)
                result.post_rtt_ms = statistics.median(rtts) / 1000
                span_s = (sent[phase_a[-1]] - sent[phase_a[0]]) / 1e6
                result.sent_rate = (len(phase_a) - 1) / span_s if span_s > 0 else 0.0
                result.payload_bytes = pub.payload_bytes

                # Phase D: a second POST sent while the first one's fan-out is in progress.
                pairs: list[tuple[int, int]] = []
                if plan.pairs:
                    pub.fresh()
                    pub2.fresh()
                    for _ in range(plan.pairs):
                        time.sleep(PAIR_GAP_S)
                        first, second = seq + 1, seq + 2
                        seq += 2
                        got: dict[str, tuple[int, int]] = {}
                        go = threading.Event()
                        at: list[int] = []

                        def second_post(
                            second: int = second,
                            go: threading.Event = go,
                            at: list[int] = at,
                            got: dict[str, tuple[int, int]] = got,
                        ) -> None:
                            go.wait(10)
                            wake = at[0] / 1e6 + PAIR_DELAY_S - time.time()
                            if wake > 0:
                                time.sleep(wake)
                            got["b"] = pub2.publish(second)

                        thread = threading.Thread(target=second_post)
                        thread.start()
                        # The first POST's send time is taken just before it is written.
                        at.append(time.time_ns() // 1000)
                        go.set()
                        got["a"] = pub.publish(first)
                        thread.join(60)
                        if "b" not in got:
                            raise BenchError("the second POST of a pair did not finish")
                        for s, key in ((first, "a"), (second, "b")):
                            sent[s] = got[key][0]
                            order.append(s)
                        pairs.append((first, second))
                        result.pair_first_rtt_ms.append(got["a"][1] / 1000)
                        result.pair_second_rtt_ms.append(got["b"][1] / 1000)
                        result.pair_second_delay_ms.append((got["b"][0] - got["a"][0]) / 1000)
                    complete, _ = client.wait(seq)
                    result.complete &= complete

                # Phase S: a burst, each POST right after the previous one's answer.
                burst: list[int] = []
                if plan.burst and n in plan.burst_at:
                    time.sleep(0.5)
                    prof.start("burst")
                    pub.fresh()
                    cpu0 = cpu_ns(pids)
                    client_ticks = cpu_ticks(client.proc.pid)
                    t0 = time.monotonic()
                    for _ in range(plan.burst):
                        seq += 1
                        sent_us, _rtt = pub.publish(seq)
                        sent[seq] = sent_us
                        order.append(seq)
                        burst.append(seq)
                    posted_s = time.monotonic() - t0
                    complete, _ = client.wait(seq, 60)
                    result.complete &= complete
                    result.burst = len(burst)
                    cpu_s = cpu_ns(pids) - cpu0
                    prof.stop("burst")
                    result.burst_cpu_us = cpu_s / 1000 / max(len(burst) * result.connected, 1)
                    result.burst_rate = (len(burst) - 1) / posted_s if posted_s > 0 else 0.0
                    result.burst_client_busy_pct = (
                        100
                        * (cpu_ticks(client.proc.pid) - client_ticks)
                        / CLK_TCK
                        / (time.monotonic() - t0)
                    )

                # Phase C: every subscriber goes away, misses some, comes back with its id.
                missed: list[int] = []
                resume_t0_us = 0
                if plan.resume:
                    time.sleep(0.3)
                    cpu0 = cpu_ns(pids)
                    client.command("CLOSE")
                    (closed,) = client.line("CLOSED", 30)
                    wait_quiet(pids)
                    result.disconnect_cpu_us = (cpu_ns(pids) - cpu0) / 1000 / max(int(closed), 1)
                    pub.fresh()
                    for _ in range(RESUME_MISSED):
                        seq += 1
                        sent_us, _rtt = pub.publish(seq)
                        sent[seq] = sent_us
                        order.append(seq)
                        missed.append(seq)
                        time.sleep(0.05)
                    wait_quiet(pids)
                    prof.start("resume")
                    cpu0 = cpu_ns(pids)
                    resume_t0_us = time.time_ns() // 1000
                    t0 = time.monotonic()
                    client.command("RESUME")
                    ready, resume_s, _failed, resets = client.line("READY", 120)
                    result.resumed, result.resume_s = int(ready), float(resume_s)
                    result.resume_resets = int(resets)
                    complete, _ = client.wait(seq, 60)
                    result.complete &= complete
                    result.resume_done_s = time.monotonic() - t0
                    resume_ns = cpu_ns(pids) - cpu0 + wait_quiet(pids)
                    result.resume_cpu_us = resume_ns / 1000 / max(result.resumed, 1)
                    prof.stop("resume")
                    if result.resumed < int(closed):
                        result.warnings.append(f"only {result.resumed} of {closed} resumed")

                client.command("QUIT")
                stats = client.line("STATS", 120)
                client.proc.wait(60)
                retries = pub.retries + pub2.retries
                if retries:
                    result.warnings.append(f"{retries} POSTs retried (connection lost)")
                for seq_503, ms_503, detail in pub.unavailable + pub2.unavailable:
                    result.warnings.append(
                        f"POST of seq {seq_503} answered 503 after {ms_503} ms (retried with "
                        f"the same Idempotency-Key): {detail[:120]}"
                    )
                result.unavailable = len(pub.unavailable) + len(pub2.unavailable)
            finally:
                pub.close()
                pub2.close()
            result.stats = dict(word.split("=", 1) for word in stats)
            result.total_published = len(order)
            check(
                result,
                workdir / "recv.txt",
                order,
                sent,
                phase_a,
                pairs,
                burst,
                missed,
                resume_t0_us,
            )
            result.cpu_us = cpu_a / 1000 / result.deliveries_a if result.deliveries_a else 0.0
            if result.deliveries_a:
                result.publish_split = (
                    us_a[0] * 1e6 / result.deliveries_a,
                    us_a[1] * 1e6 / result.deliveries_a,
                )
            if plan.gc_trace and (workdir / "gc.log").exists():
                result.gc_pauses = [
                    (int(a), int(b), int(c))
                    for a, b, c in (
                        line.split() for line in (workdir / "gc.log").read_text().splitlines()
                    )
                ]
            result.warnings.extend(server.warnings())
        except Exception:
            print(f"--- {server.name} log (last lines) ---\n{server.tail()}", file=sys.stderr)
            raise
        finally:
            procs.stop_all()
    return result


def run_safely(
    name: str,
    n: int,
    plan: Plan,
    cpus: tuple[int, int] | None,
    pinned: bool,
    module: Path | None,
) -> Result:
    """One run; a failure is reported as such and the other runs go on."""
    try:
        return run_one(name, n, plan, cpus, pinned=pinned, module=module)
    except (BenchError, OSError, http.client.HTTPException, ValueError) as exc:
        print(f"{name} N={n}: FAILED: {exc!r}", file=sys.stderr, flush=True)
        result = Result(name if pinned else f"{name} (unpinned)", n)
        result.failed = f"{type(exc).__name__}: {exc}"[:300]
        return result


def _log_order(
    order: list[int], pairs: list[tuple[int, int]], received: list[list[int]]
) -> list[int]:
    """The order the server logged the messages in. The two POSTs of a pair are in flight
    together, so on a busy machine the second can be logged first: then every subscriber
    rightly gets it first. Each pair takes the order most subscribers saw (all of them
    must agree, which the in-order check that follows verifies); the rest keep the order
    they were posted in, one after the other's answer."""
    fixed = list(order)
    positions = [{seq: i for i, seq in enumerate(seqs)} for seqs in received]
    for first, second in pairs:
        swapped = sum(
            1 for pos in positions if pos.get(second, -1) >= 0 and pos[second] < pos.get(first, -1)
        )
        if swapped * 2 > len(received):
            i, j = fixed.index(first), fixed.index(second)
            fixed[i], fixed[j] = second, first
    return fixed


def check(
    result: Result,
    path: Path,
    order: list[int],
    sent: dict[int, int],
    phase_a: list[int],
    pairs: list[tuple[int, int]],
    burst: list[int],
    missed: list[int],
    resume_t0_us: int,
) -> None:
    """Latencies, fan-out times and the exactly-once, in-order check of every delivery."""
    got: dict[int, list[tuple[int, int]]] = {}
    ready: set[int] = set()
    last_recv: dict[int, int] = {}
    first_recv: dict[int, int] = {}
    in_a = set(phase_a)
    lat: list[int] = []
    with open(path) as f:
        for line in f:
            kind, conn, a, b = line.split()
            if kind == "CONN":
                got[int(conn)] = []
                if a == "1":
                    ready.add(int(conn))
                if a == "1" and b == "0":
                    result.dropped += 1
                continue
            seq, t_us = int(a), int(b)
            got[int(conn)].append((seq, t_us))
            if seq in sent:
                if seq in in_a:
                    lat.append(t_us - sent[seq])
                if t_us > last_recv.get(seq, 0):
                    last_recv[seq] = t_us
                if t_us < first_recv.get(seq, 1 << 62):
                    first_recv[seq] = t_us
    published = set(order)
    missed_set = set(missed)
    order = _log_order(order, pairs, [[s for s, _ in got.get(conn, [])] for conn in ready])
    deliveries_a = 0
    for conn in ready:
        recs = got.get(conn, [])
        mine = [s for s, _ in recs if s in published]
        result.unexpected += len(recs) - len(mine)
        result.duplicates += len(mine) - len(set(mine))
        result.missing += len(published - set(mine))
        if _dedup(mine) != [s for s in order if s in set(mine)]:
            result.out_of_order += 1
        result.deliveries += len(mine)
        deliveries_a += sum(1 for s in mine if s in in_a)
        if missed:
            after = [s for s, t in recs if t >= resume_t0_us]
            if after == missed and not (missed_set & {s for s, t in recs if t < resume_t0_us}):
                result.resume_exact += 1
    result.deliveries_a = deliveries_a
    result.expected = len(ready) * len(order)
    lat.sort()
    result.lat_us = lat
    result.fanout_us = sorted(last_recv[s] - sent[s] for s in phase_a if s in last_recv)
    result.per_message = [
        (s, sent[s], first_recv[s] - sent[s], last_recv[s] - sent[s], 0)
        for s in phase_a
        if s in last_recv
    ]
    result.pair_fanout_ms = [(last_recv[a] - sent[a]) / 1000 for a, _ in pairs if a in last_recv]
    if burst and burst[-1] in last_recv:
        wall_s = (max(last_recv[s] for s in burst if s in last_recv) - sent[burst[0]]) / 1e6
        result.burst_deliveries_per_s = len(burst) * len(ready) / wall_s if wall_s > 0 else 0.0


def _dedup(ids: list[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


# Report


def fmt_table(columns: list[tuple[str, int]], rows: list[list[str]]) -> str:
    lines = [" ".join(name.rjust(width) for name, width in columns)]
    for cells in rows:
        lines.append(" ".join(c.rjust(w) for c, (_, w) in zip(cells, columns, strict=True)))
    return "\n".join(lines)


MAIN_COLUMNS = [
    ("N", 6), ("server", 15), ("pub/s", 6), ("conn", 6), ("conn_s", 7), ("conn_us", 8),
    ("rss0_MiB", 9), ("rss_MiB", 8), ("KiB/sub", 8), ("lat_p50", 8), ("lat_p99", 8),
    ("lat_max", 8), ("fan_med", 8), ("fan_max", 8), ("cpu_us/d", 9), ("deliv", 8),
    ("missing", 8), ("dup", 4), ("order", 6), ("dropped", 8), ("503s", 5),
]  # fmt: skip
RATIOS = [  # (column, attribute getter): ticker / nchan
    ("cpu_us/d", lambda r: r.cpu_us),
    ("fan_max", lambda r: r.fanout_us[-1] if r.fanout_us else 0),
    ("lat_p99", lambda r: percentile(r.lat_us, 99)),
    ("KiB/sub", lambda r: kib_per_sub(r)),
    ("conn_s", lambda r: r.connect_s),
    ("conn_us", lambda r: r.connect_cpu_us),
]


def kib_per_sub(r: Result) -> float:
    return (r.rss_idle_kib - r.rss_before_kib) / max(r.connected, 1)


def ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def main_row(r: Result) -> list[str]:
    return [
        str(r.n),
        r.server[:15],
        f"{r.sent_rate:.1f}",
        str(r.connected),
        f"{r.connect_s:.2f}",
        f"{r.connect_cpu_us:.1f}",
        f"{r.rss_before_kib / 1024:.1f}",
        f"{r.rss_idle_kib / 1024:.1f}",
        f"{kib_per_sub(r):.2f}",
        ms(percentile(r.lat_us, 50)),
        ms(percentile(r.lat_us, 99)),
        ms(r.lat_us[-1] if r.lat_us else 0),
        ms(percentile(r.fanout_us, 50)),
        ms(r.fanout_us[-1] if r.fanout_us else 0),
        f"{r.cpu_us:.2f}",
        str(r.deliveries),
        str(r.missing),
        str(r.duplicates),
        str(r.out_of_order),
        str(r.dropped),
        str(r.unavailable),
    ]


def ratio_row(ours: Result, nchan: Result) -> list[str]:
    cells = ["" for _ in MAIN_COLUMNS]
    cells[1] = f"{ours.server}/nchan"
    names = [name for name, _ in MAIN_COLUMNS]
    for column, get in RATIOS:
        a, b = get(ours), get(nchan)
        cells[names.index(column)] = f"{a / b:.2f}x" if b else "-"
    return cells


def print_messages(r: Result) -> None:
    print(f"{r.server} N={r.n}: per message (ms after the POST was sent): first receiver, last")
    start = r.per_message[0][1] if r.per_message else 0
    for seq, sent_us, first, last, _ in r.per_message:
        print(
            f"  seq {seq:>4}  t+{(sent_us - start) / 1e6:6.3f} s  first {first / 1000:7.1f}"
            f"  last {last / 1000:7.1f}"
        )


def report(results: list[Result], scaling: list[Result]) -> str:
    out: list[str] = []
    rows: list[list[str]] = []
    by_n: dict[int, list[Result]] = {}
    for r in results:
        by_n.setdefault(r.n, []).append(r)
    for group in by_n.values():
        for r in group:
            rows.append(main_row(r))
        nchan = next((r for r in group if r.server == "nchan"), None)
        if nchan is not None:
            for r in group:
                if r is not nchan:
                    rows.append(ratio_row(r, nchan))
    out.append(fmt_table(MAIN_COLUMNS, rows))
    out.append(
        "(latencies and fan-out times in ms; conn_us: server CPU µs per subscriber to connect; "
        "ratios are ticker / Nchan, below 1 is better for us; see benchmarks/README.md)"
    )

    resumed = [r for r in results if r.resumed]
    if resumed:
        out.append("")
        out.append(
            f"Resume: all close, {RESUME_MISSED} messages published, "
            "all reconnect with Last-Event-ID"
        )
        cols = [("N", 6), ("server", 10), ("closed_us", 10), ("resumed", 8), ("resume_s", 9),
                ("done_s", 7), ("resume_us", 10), ("resets", 7), ("exact", 7)]  # fmt: skip
        out.append(
            fmt_table(
                cols,
                [
                    [
                        str(r.n),
                        r.server[:10],
                        f"{r.disconnect_cpu_us:.1f}",
                        str(r.resumed),
                        f"{r.resume_s:.2f}",
                        f"{r.resume_done_s:.2f}",
                        f"{r.resume_cpu_us:.1f}",
                        str(r.resume_resets),
                        str(r.resume_exact),
                    ]
                    for r in resumed
                ],
            )
        )
        out.append(
            "(closed_us: server CPU µs per subscriber to handle the disconnect; resume_us: server "
            "CPU µs per subscriber from RESUME until every missed message arrived; exact: "
            f"subscribers that got exactly the {RESUME_MISSED} missed messages after reconnecting)"
        )

    paired = [r for r in results if r.pair_second_rtt_ms]
    if paired:
        out.append("")
        out.append(
            f"A POST while a fan-out is in progress: pairs of POSTs, the second sent "
            f"{PAIR_DELAY_S * 1000:.0f} ms after the first, on another connection"
        )
        cols = [("N", 6), ("server", 10), ("pairs", 6), ("1st_rtt", 8), ("fan_1st", 8),
                ("2nd_rtt_med", 12), ("2nd_rtt_max", 12), ("2nd_after", 10)]  # fmt: skip
        out.append(
            fmt_table(
                cols,
                [
                    [
                        str(r.n),
                        r.server[:10],
                        str(len(r.pair_second_rtt_ms)),
                        f"{statistics.median(r.pair_first_rtt_ms):.1f}",
                        f"{statistics.median(r.pair_fanout_ms):.1f}" if r.pair_fanout_ms else "-",
                        f"{statistics.median(r.pair_second_rtt_ms):.1f}",
                        f"{max(r.pair_second_rtt_ms):.1f}",
                        f"{statistics.median(r.pair_second_delay_ms):.1f}",
                    ]
                    for r in paired
                ],
            )
        )
        out.append(
            "(ms, medians over the pairs: 1st_rtt the first POST's round trip, fan_1st its "
            "fan-out completion, 2nd_rtt the second's round trip (POST -> 201), 2nd_after how "
            "long after the first it was actually sent)"
        )

    bursts = [r for r in [*results, *scaling] if r.burst]
    if bursts:
        out.append("")
        out.append(
            "Throughput: a burst of POSTs, each sent as soon as the previous one was answered"
        )
        cols = [("N", 6), ("server", 22), ("msgs", 5), ("post/s", 7), ("deliv/s", 9),
                ("cpu_us/d", 9), ("deliv/cpu_s", 12), ("client%", 8), ("split", 12)]  # fmt: skip
        out.append(
            fmt_table(
                cols,
                [
                    [
                        str(r.n),
                        r.server[:22],
                        str(r.burst),
                        f"{r.burst_rate:.1f}",
                        f"{r.burst_deliveries_per_s:,.0f}",
                        f"{r.burst_cpu_us:.2f}",
                        f"{1e6 / r.burst_cpu_us:,.0f}" if r.burst_cpu_us else "-",
                        f"{r.burst_client_busy_pct:.0f}",
                        r.split or "-",
                    ]
                    for r in bursts
                ],
            )
        )
        out.append(
            "(deliv/s: deliveries per wall-clock second, first POST sent to last message received; "
            "deliv/cpu_s: deliveries per second of server CPU; client%: the load client's CPU; "
            "split: subscribers per worker process)"
        )

    out.append("")
    for r in [*results, *scaling]:
        note = (
            f"{r.server} N={r.n}: {r.published} messages in {r.publish_s:.2f} s, POST round trip "
            f"median {r.post_rtt_ms:.1f} ms; payload {r.payload_bytes} B; "
            f"{r.deliveries}/{r.expected} deliveries of {r.total_published} messages; idle CPU "
            f"{r.idle_cpu_pct:.1f}%; load client busy {r.client_busy_pct:.0f}% while publishing; "
            f"user+kernel CPU: connect {r.connect_split[0]:.0f}+{r.connect_split[1]:.0f} µs/sub, "
            f"publish {r.publish_split[0]:.1f}+{r.publish_split[1]:.1f} µs/delivery; "
            f"pings while publishing {r.comments_a}; "
            + (
                f"others' use of the server's CPU while publishing {r.foreign_pct:.0f}%; "
                if r.foreign_pct is not None
                else ""
            )
            + (f"split {r.split}; " if r.split else "")
            + "client: "
            + " ".join(f"{k}={v}" for k, v in r.stats.items())
        )
        out.append(note)
        if r.gc_pauses is not None:
            start, end = r.window_us
            during = [(g, p) for t, g, p in r.gc_pauses if start <= t <= end]
            full = sorted(p for g, p in during if g == 2)
            out.append(
                f"{r.server} N={r.n}: garbage collector while publishing: {len(during)} "
                f"collections, {sum(p for _, p in during) / 1000:.0f} ms in all; {len(full)} full "
                f"(gen 2) pausing {', '.join(f'{p / 1000:.0f}' for p in full) or '-'} ms"
            )
        if r.failed:
            out.append(f"{r.server} N={r.n}: RUN FAILED: {r.failed}")
        if not r.complete:
            out.append(
                f"{r.server} N={r.n}: NOT COMPLETE: a live subscriber lacked messages at a WAIT"
            )
        for warning in r.warnings:
            out.append(f"{r.server} N={r.n}: {warning}")
    return "\n".join(out)


@contextmanager
def cpu_plan(enabled: bool) -> Iterator[tuple[int, int] | None]:
    """Server on one CPU, everything else (load client, redis, this driver) on another."""
    usable = sorted(os.sched_getaffinity(0))
    if not enabled or len(usable) < 2 or shutil.which("taskset") is None:
        yield None
        return
    before = os.sched_getaffinity(0)
    server_cpu, other_cpu = usable[0], usable[1]
    os.sched_setaffinity(0, {other_cpu})
    try:
        yield server_cpu, other_cpu
    finally:
        os.sched_setaffinity(0, before)


def wait_for_quiet(max_load: float, max_wait_s: float) -> str:
    """Poll the 1-minute load average every 30 s until it is below `max_load`."""
    deadline = time.monotonic() + max_wait_s
    while True:
        load = os.getloadavg()[0]
        if load < max_load:
            return f"1-min load average {load:.2f} at the start"
        if time.monotonic() >= deadline:
            return (
                f"NOT QUIET: 1-min load average {load:.2f} after waiting {max_wait_s / 60:.0f} min"
            )
        print(f"load average {load:.2f} >= {max_load}: waiting 30 s ...", flush=True)
        time.sleep(30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, nargs="+", help="default 1000 5000")
    parser.add_argument("--servers", nargs="+", choices=sorted(SERVERS), help="default ticker")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="ticker, ticker-w2 and nchan at N = 1000 5000 10000 19000, burst at 10000, "
        "and the unpinned workers test",
    )
    parser.add_argument("--messages", type=int, default=20, help="items published per run")
    parser.add_argument("--rate", type=float, default=5.0, help="items published per second")
    parser.add_argument("--idle", type=float, default=2.0, help="idle seconds before publishing")
    parser.add_argument(
        "--pending", type=int, default=256, help="most subscribers connecting at once"
    )
    parser.add_argument("--pairs", type=int, default=5, help="POST pairs (0: none)")
    parser.add_argument("--burst", type=int, default=40, help="messages of the burst (0: none)")
    parser.add_argument(
        "--burst-at", type=int, nargs="*", default=[10000], help="N at which to burst"
    )
    parser.add_argument("--no-resume", action="store_true", help="skip the resume phase")
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="also ticker and ticker-w2 with the server unpinned (both CPUs) at --scaling-n",
    )
    parser.add_argument("--scaling-n", type=int, default=10000)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        metavar="MINUTES",
        default=0,
        help="first wait (up to MINUTES) for a 1-min load average below --max-load",
    )
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--per-message", action="store_true", help="print each message's times")
    parser.add_argument(
        "--gc-trace", action="store_true", help="log the ticker server's garbage-collector pauses"
    )
    parser.add_argument(
        "--py-spy", type=Path, metavar="DIR",
        help="profile the ticker server with py-spy during one phase (see --py-spy-phase) "
        "and write collapsed stacks to DIR; slows the server: for diagnosis only",
    )  # fmt: skip
    parser.add_argument(
        "--py-spy-phase", choices=["connect", "publish", "burst", "resume"], default="publish"
    )
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.compare:
        args.subscribers = args.subscribers or [1000, 5000, 10000, 19000]
        args.servers = args.servers or ["ticker", "ticker-w2", "nchan"]
        args.scaling = True
    args.subscribers = args.subscribers or [1000, 5000]
    args.servers = args.servers or ["ticker"]
    if args.messages < 1 or args.rate <= 0 or any(n < 1 for n in args.subscribers):
        parser.error("--messages, --rate and --subscribers must be positive")
    for tool in ("redis-server", "gcc"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed")
    module = ensure_nchan() if "nchan" in args.servers else None

    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:  # the servers inherit it: one descriptor per subscriber
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit != resource.RLIM_INFINITY and max(args.subscribers) + 64 > limit:
        raise BenchError(
            f"RLIMIT_NOFILE is {limit} (`ulimit -n -H`): too few for {max(args.subscribers)} "
            "subscribers and the server's own files"
        )
    build_client()

    plan = Plan(
        messages=args.messages,
        rate=args.rate,
        idle_s=args.idle,
        pending=args.pending,
        pairs=args.pairs,
        burst=args.burst,
        burst_at=args.burst_at,
        resume=not args.no_resume,
        gc_trace=args.gc_trace,
        py_spy=args.py_spy,
        py_spy_phase=args.py_spy_phase,
    )
    quiet = wait_for_quiet(args.max_load, args.wait_quiet * 60) if args.wait_quiet else ""
    header = [
        f"date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"machine: {machine()}",
        f"command: python benchmarks/fanout.py {' '.join(sys.argv[1:] if argv is None else argv)}",
    ]
    if quiet:
        header.append(f"quiet: {quiet}")
    for line in header:
        print(line, flush=True)
    results: list[Result] = []
    scaling: list[Result] = []
    started = time.monotonic()
    with cpu_plan(not args.no_pin) as cpus:
        pinning = (
            f"pinning: server on CPU {cpus[0]}; load client, redis, driver on CPU {cpus[1]}"
            if cpus
            else "pinning: none"
        )
        header.append(pinning)
        header.append(
            f"messages: {args.messages} at {args.rate:g}/s, idle {args.idle:g} s; pairs "
            f"{args.pairs}; burst {args.burst} at N in {args.burst_at}; resume "
            f"{'on' if plan.resume else 'off'}; RLIMIT_NOFILE {limit}"
        )
        print("\n".join(header[-2:]), flush=True)
        for n in args.subscribers:
            for name in args.servers:
                print(f"running {name} N={n} ...", flush=True)
                results.append(run_safely(name, n, plan, cpus, True, module))
        if args.scaling and cpus:
            for name in ("ticker", "ticker-w2"):
                print(f"running {name} N={args.scaling_n} unpinned (burst) ...", flush=True)
                scale_plan = Plan(
                    messages=args.messages, rate=args.rate, idle_s=args.idle,
                    pending=args.pending, pairs=0, burst=args.burst or 40,
                    burst_at=[args.scaling_n], resume=False, gc_trace=False,
                )  # fmt: skip
                scaling.append(run_safely(name, args.scaling_n, scale_plan, cpus, False, None))
    elapsed = time.monotonic() - started
    text_out = report(results, scaling)
    print()
    if args.per_message:
        for r in results:
            print_messages(r)
    print(text_out)
    print(f"(took {elapsed / 60:.1f} min; 1-min load average now {os.getloadavg()[0]:.2f})")
    if args.output:
        args.output.write_text(
            "\n".join(header) + "\n\n" + text_out
            + f"\n(took {elapsed / 60:.1f} min; 1-min load average at the end "
            f"{os.getloadavg()[0]:.2f})\n"
        )  # fmt: skip
    bad = any(
        r.failed or r.missing or r.duplicates or r.out_of_order or r.unexpected or r.dropped
        for r in [*results, *scaling]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"fanout.py: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("fanout.py: interrupted; stopped every process it started", file=sys.stderr)
        sys.exit(130)
