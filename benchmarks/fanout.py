#!/usr/bin/env python3
"""Fan-out benchmark: N server-sent-event subscribers on one `ticker serve` process.

For each N it starts a private redis-server and a fresh `ticker serve`, connects N
subscribers with the C load client (benchmarks/sse_load.c, built on demand), measures
the server's memory per idle subscriber, publishes M items at a fixed rate over the
HTTP API and measures publish→receive latency, fan-out completion time and server CPU
per delivery, and checks that every subscriber got every item exactly once, in order.

    python benchmarks/fanout.py [--subscribers 1000 5000] [--messages 20] [--rate 5]

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
        if port != 6379:
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


# /proc


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {model}; "
        f"Linux {platform.release()}; Python {platform.python_version()}"
    )


# Redis and the server


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


def start_server(
    procs: Processes, workdir: Path, env: dict[str, str], cpu: int | None
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with open(workdir / "server.log", "wb") as log:
        server = procs.start(
            "server",
            [*pin(cpu), ticker_executable(), "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    deadline = time.monotonic() + 30
    url = f"http://127.0.0.1:{port}/readyz"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"ticker serve exited ({server.returncode}):\n{tail(workdir)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if json.load(response).get("stream") == "ready":
                    return server, port
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.1)
    raise BenchError(f"ticker serve not ready after 30 s:\n{tail(workdir)}")


def tail(workdir: Path, lines: int = 20) -> str:
    path = workdir / "server.log"
    if not path.exists():
        return "(no server log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def create_token(env: dict[str, str]) -> str:
    done = subprocess.run(
        [ticker_executable(), "token", "create", "--name", "bench"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise BenchError(f"ticker token create failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1].strip()


class Publisher:
    """POSTs items over one persistent HTTP/1.1 connection.

    uvicorn closes a keep-alive connection after 5 idle seconds, so `fresh()` opens a
    new one right before the timed phase; each POST carries an Idempotency-Key, so the
    one retry after a dropped connection cannot publish twice."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.path = f"/api/v1/channels/{CHANNEL}/items"
        self.retries = 0
        self.count = 0

    def fresh(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.conn.request("GET", "/healthz")
        self.conn.getresponse().read()

    def publish(self, text: str) -> tuple[str, int, int]:
        """(item id, send time in CLOCK_REALTIME µs, round trip in µs)."""
        body = json.dumps({"text": text}).encode()
        self.count += 1
        headers = {**self.headers, "Idempotency-Key": f"bench-{os.getpid()}-{self.count}"}
        for attempt in (1, 2):
            sent = time.time_ns() // 1000
            try:
                self.conn.request("POST", self.path, body=body, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                if attempt == 2:
                    raise
                self.retries += 1
                self.conn.close()
        rtt = time.time_ns() // 1000 - sent
        if response.status not in (200, 201):
            raise BenchError(f"publish answered {response.status}: {payload[:300]!r}")
        return str(json.loads(payload)["id"]), sent, rtt

    def close(self) -> None:
        self.conn.close()


# The load client


class LoadClient:
    def __init__(
        self, procs: Processes, port: int, n: int, out: Path, cpu: int | None, pending: int
    ) -> None:
        self.out = out
        self.proc = procs.start(
            "sse_load",
            [
                *pin(cpu),
                str(build_client()),
                "-p", str(port),
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


# One run


@dataclass
class Result:
    n: int
    connected: int = 0
    connect_s: float = 0.0
    rss_before_kib: int = 0
    rss_idle_kib: int = 0
    idle_cpu_pct: float = 0.0
    published: int = 0
    publish_s: float = 0.0
    post_rtt_ms: float = 0.0
    deliveries: int = 0
    expected: int = 0
    lat_us: list[int] = field(default_factory=list)
    fanout_us: list[int] = field(default_factory=list)
    per_message: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    cpu_us: float = 0.0
    client_busy_pct: float = 0.0
    sent_rate: float = 0.0
    missing: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    dropped: int = 0
    complete: bool = False
    stats: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    gc_pauses: list[tuple[int, int, int]] | None = None  # (end µs, generation, pause µs)
    window_us: tuple[int, int] = (0, 0)  # the publish phase, CLOCK_REALTIME µs


def percentile(sorted_values: Sequence[int], p: float) -> int:
    """Nearest-rank percentile of sorted values."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_one(
    n: int,
    messages: int,
    rate: float,
    idle_s: float,
    pending: int,
    cpus: tuple[int, int] | None,
    gc_trace: bool,
) -> Result:
    result = Result(n)
    server_cpu, other_cpu = cpus if cpus else (None, None)
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="ticker-bench-") as tmp:
        workdir = Path(tmp)
        try:
            redis_port = start_redis(procs, workdir, other_cpu)
            env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
            if gc_trace:
                (workdir / "gctrace").mkdir()
                (workdir / "gctrace" / "sitecustomize.py").write_text(GC_TRACE)
                path = os.pathsep.join(
                    filter(None, [str(workdir / "gctrace"), env.get("PYTHONPATH")])
                )
                env["PYTHONPATH"] = path
                env["TICKER_BENCH_GC_LOG"] = str(workdir / "gc.log")
            server, port = start_server(procs, workdir, env, server_cpu)
            token = create_token(env)
            publisher = Publisher(port, token)
            try:
                publisher.publish(f"{TEXT} (warm-up)")  # the first request's one-off costs
                time.sleep(0.5)
                result.rss_before_kib = rss_kib(server.pid)

                client = LoadClient(procs, port, n, workdir / "recv.txt", other_cpu, pending)
                ready, connect_s, _failed = client.line("READY", 180)
                result.connected, result.connect_s = int(ready), float(connect_s)
                if result.connected < n:
                    result.warnings.append(f"only {result.connected} of {n} subscribers connected")

                ticks = cpu_ticks(server.pid)
                time.sleep(idle_s)
                result.rss_idle_kib = rss_kib(server.pid)
                idle_ticks = cpu_ticks(server.pid) - ticks
                result.idle_cpu_pct = 100 * idle_ticks / CLK_TCK / idle_s

                sent: dict[str, int] = {}
                order: list[str] = []
                rtts: list[int] = []
                publisher.fresh()
                ticks = cpu_ticks(server.pid)
                client_ticks = cpu_ticks(client.proc.pid)
                start = time.monotonic()
                window_start = time.time_ns() // 1000
                for i in range(messages):
                    delay = start + i / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    item_id, sent_us, rtt = publisher.publish(f"{TEXT} #{i}")
                    sent[item_id] = sent_us
                    order.append(item_id)
                    rtts.append(rtt)
                result.publish_s = time.monotonic() - start
                client.command(f"WAIT {messages} 30")
                (complete,) = client.line("COMPLETE", 60)
                cpu_s = (cpu_ticks(server.pid) - ticks) / CLK_TCK
                busy_s = (cpu_ticks(client.proc.pid) - client_ticks) / CLK_TCK
                result.client_busy_pct = 100 * busy_s / (time.monotonic() - start)
                result.complete = complete == "1"
                result.window_us = (window_start, time.time_ns() // 1000)
                stats = client.line("STATS", 60)
                client.proc.wait(30)
                if publisher.retries:
                    result.warnings.append(f"{publisher.retries} POSTs retried (connection lost)")
            finally:
                publisher.close()
            result.stats = dict(word.split("=", 1) for word in stats)
            result.published = len(order)
            result.post_rtt_ms = statistics.median(rtts) / 1000
            span_s = (sent[order[-1]] - sent[order[0]]) / 1e6
            result.sent_rate = (len(order) - 1) / span_s if span_s > 0 else 0.0
            check(result, workdir / "recv.txt", order, sent, rtts)
            result.cpu_us = cpu_s * 1e6 / result.deliveries if result.deliveries else 0.0
            if gc_trace and (workdir / "gc.log").exists():
                result.gc_pauses = [
                    (int(a), int(b), int(c))
                    for a, b, c in (
                        line.split() for line in (workdir / "gc.log").read_text().splitlines()
                    )
                ]
            for line in (workdir / "server.log").read_text(errors="replace").splitlines():
                if line.startswith(("WARNING", "ERROR", "CRITICAL")) or "Traceback" in line:
                    result.warnings.append(f"server log: {line[:200]}")
            if server.poll() is not None:
                result.warnings.append(f"server exited with {server.returncode} during the run")
        except Exception:
            if (workdir / "server.log").exists():
                print(f"--- server log (last lines) ---\n{tail(workdir)}", file=sys.stderr)
            raise
        finally:
            procs.stop_all()
    return result


def check(
    result: Result, path: Path, order: list[str], sent: dict[str, int], rtts: list[int]
) -> None:
    """Latencies, fan-out times and the exactly-once, in-order check of every delivery."""
    got: dict[int, list[str]] = {}
    ready: set[int] = set()
    first_recv: dict[str, int] = {}
    last_recv: dict[str, int] = {}
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
            t_us = int(b)
            got[int(conn)].append(a)
            if a in sent:
                lat.append(t_us - sent[a])
                if t_us > last_recv.get(a, 0):
                    last_recv[a] = t_us
                if t_us < first_recv.get(a, 1 << 62):
                    first_recv[a] = t_us
    published = set(order)
    for conn in ready:
        ids = got.get(conn, [])
        mine = [i for i in ids if i in published]
        result.unexpected += len(ids) - len(mine)
        result.duplicates += len(mine) - len(set(mine))
        result.missing += len(published - set(mine))
        distinct = set(mine)
        if _dedup(mine) != [i for i in order if i in distinct]:
            result.out_of_order += 1  # subscribers that saw the items in another order
        result.deliveries += len(mine)
    result.expected = len(ready) * len(order)
    lat.sort()
    result.lat_us = lat
    result.fanout_us = sorted(last_recv[i] - sent[i] for i in order if i in last_recv)
    result.per_message = [
        (i, sent[i], first_recv[i] - sent[i], last_recv[i] - sent[i], rtt)
        for i, rtt in zip(order, rtts, strict=True)
        if i in last_recv
    ]


def _dedup(ids: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


# Report


COLUMNS = [
    ("N", 6),
    ("pub/s", 6),
    ("conn", 6),
    ("conn_s", 7),
    ("rss0_MiB", 9),
    ("rss_MiB", 8),
    ("KiB/sub", 8),
    ("lat_p50", 8),
    ("lat_p99", 8),
    ("lat_max", 8),
    ("fan_med", 8),
    ("fan_max", 8),
    ("cpu_us/d", 9),
    ("deliv", 8),
    ("missing", 8),
    ("dup", 4),
    ("order", 6),
    ("dropped", 8),
]


def row(r: Result) -> list[str]:
    def ms(us: int) -> str:
        return f"{us / 1000:.1f}"

    return [
        str(r.n),
        f"{r.sent_rate:.1f}",
        str(r.connected),
        f"{r.connect_s:.2f}",
        f"{r.rss_before_kib / 1024:.1f}",
        f"{r.rss_idle_kib / 1024:.1f}",
        f"{(r.rss_idle_kib - r.rss_before_kib) / max(r.connected, 1):.1f}",
        ms(percentile(r.lat_us, 50)),
        ms(percentile(r.lat_us, 99)),
        ms(r.lat_us[-1] if r.lat_us else 0),
        ms(percentile(r.fanout_us, 50)),
        ms(r.fanout_us[-1] if r.fanout_us else 0),
        f"{r.cpu_us:.1f}",
        str(r.deliveries),
        str(r.missing),
        str(r.duplicates),
        str(r.out_of_order),
        str(r.dropped),
    ]


def print_messages(r: Result) -> None:
    print(f"N={r.n}: per message (ms after the POST was sent): first receiver, last, POST reply")
    start = r.per_message[0][1] if r.per_message else 0
    for item_id, sent_us, first, last, rtt in r.per_message:
        print(
            f"  {item_id:>17}  t+{(sent_us - start) / 1e6:6.3f} s  first {first / 1000:7.1f}"
            f"  last {last / 1000:7.1f}  post {rtt / 1000:7.1f}"
        )


def print_table(results: list[Result]) -> None:
    print(" ".join(name.rjust(width) for name, width in COLUMNS))
    for r in results:
        print(" ".join(cell.rjust(width) for cell, (_, width) in zip(row(r), COLUMNS, strict=True)))
    print("(latencies and fan-out times in ms; see benchmarks/README.md)")
    for r in results:
        note = (
            f"N={r.n}: {r.published} messages in {r.publish_s:.2f} s, POST round trip median "
            f"{r.post_rtt_ms:.1f} ms; {r.deliveries}/{r.expected} deliveries; idle server CPU "
            f"{r.idle_cpu_pct:.1f}% with {r.connected} open streams; load client busy "
            f"{r.client_busy_pct:.0f}% of its CPU while publishing; client: "
            + " ".join(f"{k}={v}" for k, v in r.stats.items())
        )
        print(note)
        if r.gc_pauses is not None:
            start, end = r.window_us
            during = [(g, p) for t, g, p in r.gc_pauses if start <= t <= end]
            full = sorted(p for g, p in during if g == 2)
            print(
                f"N={r.n}: garbage collector while publishing: {len(during)} collections, "
                f"{sum(p for _, p in during) / 1000:.0f} ms in all; {len(full)} full (gen 2) "
                f"pausing {', '.join(f'{p / 1000:.0f}' for p in full) or '-'} ms"
            )
        if not r.complete:
            print(f"N={r.n}: NOT COMPLETE: some live subscriber lacked messages after 30 s")
        for warning in r.warnings:
            print(f"N={r.n}: {warning}")


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--messages", type=int, default=20, help="items published per run")
    parser.add_argument("--rate", type=float, default=5.0, help="items published per second")
    parser.add_argument("--idle", type=float, default=2.0, help="idle seconds before publishing")
    parser.add_argument(
        "--pending", type=int, default=256, help="most subscribers connecting at once"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--per-message", action="store_true", help="print each message's times")
    parser.add_argument(
        "--gc-trace", action="store_true", help="log the server's garbage-collector pauses"
    )
    args = parser.parse_args(argv)
    if args.messages < 1 or args.rate <= 0 or any(n < 1 for n in args.subscribers):
        parser.error("--messages, --rate and --subscribers must be positive")
    for tool in ("redis-server", "gcc"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed")

    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:  # the server inherits it: it needs one descriptor per subscriber
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    build_client()

    print(f"date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    print(f"machine: {machine()}")
    results: list[Result] = []
    with cpu_plan(not args.no_pin) as cpus:
        if cpus:
            print(f"pinning: server on CPU {cpus[0]}; load client, redis, driver on CPU {cpus[1]}")
        else:
            print("pinning: none")
        print(
            f"messages: {args.messages} at {args.rate:g}/s, idle {args.idle:g} s; "
            f"RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}",
            flush=True,
        )
        for n in args.subscribers:
            print(f"running N={n} ...", flush=True)
            result = run_one(
                n, args.messages, args.rate, args.idle, args.pending, cpus, args.gc_trace
            )
            results.append(result)
    print()
    if args.per_message:
        for r in results:
            print_messages(r)
    print_table(results)
    bad = any(r.missing or r.duplicates or r.out_of_order or r.unexpected for r in results)
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
