"""Stalled readers: what they cost the readers that keep up.

Starts a redis-server and `ticker serve` (default settings unless overridden in the
environment), connects `--readers` healthy subscribers and, per scenario, 0, 1 and 100
(`--stalled`) subscribers that never read a byte, then publishes `--messages` long items
(~2.6 KB frames, so the stalled ones' buffers fill and they are dropped during the run)
at `--rate` per second. Prints, per scenario, the healthy readers' delivery latency (POST
sent to event received) at p50/p99/max, how many stalled readers the server dropped, the
server's RSS and the kernel's TCP memory (what socket buffers hold).

    python benchmarks/stalled_readers.py                      # 0, 1, 100 stalled (~1 min)
    python benchmarks/stalled_readers.py --stalled 0 10 --messages 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

MARK = re.compile(rb"\[seq (\d+)\]")
TEXT = " خبر طويل" * 30
URL = "https://news.example/" + "a" * 2000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Servers:
    """A redis-server and a `ticker serve` of their own, in a temporary folder."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ticker-stalled-"))
        self.redis_port = free_port()
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self) -> None:
        redis = shutil.which("redis-server", path="/usr/bin") or "redis-server"
        argv = [redis, "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
        time.sleep(0.3)
        env = {**os.environ, "REDIS_URL": self.redis_url, "TICKER_LOG_LEVEL": "warning"}
        self.env = env
        self.ticker("channel", "add", "bench")
        log = open(self.dir / "server.log", "wb")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "ticker", "serve", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(self.server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("ticker serve did not become ready")

    def ticker(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "ticker", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.server.pid}/status").read_text()
        kib = next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
        return int(kib) / 1024

    @staticmethod
    def tcp_kernel_mib() -> float:
        """Kernel memory of every TCP socket on the machine (/proc/net/sockstat, pages)."""
        for line in Path("/proc/net/sockstat").read_text().splitlines():
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        return 0.0

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


async def healthy_reader(port: int, sent: dict[int, float], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/v1/stream?channels=bench HTTP/1.1\r\nHost: x\r\n\r\n")
    tail = b""
    try:
        while data := await reader.read(1 << 16):
            now = time.perf_counter()
            tail = tail[-64:] + data
            for match in MARK.finditer(tail):
                seq = int(match.group(1))
                if seq in sent:
                    latencies.append(now - sent[seq])
            tail = tail[-64:]  # a marker split across reads is found in the next one
    finally:
        writer.close()


def stalled_reader(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /api/v1/stream?channels=bench HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


async def open_streams(client: httpx.AsyncClient) -> int:
    return int((await client.get("/readyz")).json()["subscribers"])


async def scenario(servers: Servers, token: str, args: argparse.Namespace, stalled: int) -> str:
    base = f"http://127.0.0.1:{servers.port}"
    sent: dict[int, float] = {}
    latencies: list[float] = []
    async with httpx.AsyncClient(
        base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        before = await open_streams(api)
        tasks = [
            asyncio.create_task(healthy_reader(servers.port, sent, latencies))
            for _ in range(args.readers)
        ]
        stuck = [stalled_reader(servers.port) for _ in range(stalled)]
        deadline = time.monotonic() + 20
        while await open_streams(api) < before + args.readers + stalled:
            if time.monotonic() > deadline:
                raise SystemExit("the readers did not all connect")
            await asyncio.sleep(0.05)
        rss_before = servers.rss_mib()
        peak = rss_before
        kernel_before = kernel_peak = servers.tcp_kernel_mib()
        seq0 = args.seq
        started = time.perf_counter()
        for n in range(args.messages):
            seq = seq0 + n
            await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
            body = {"text": f"[seq {seq}]{TEXT}", "url": URL}
            sent[seq] = time.perf_counter()
            r = await api.post("/api/v1/channels/bench/items", json=body)
            r.raise_for_status()
            if n % 20 == 0:
                peak = max(peak, servers.rss_mib())
                kernel_peak = max(kernel_peak, servers.tcp_kernel_mib())
        args.seq += args.messages
        expected = args.messages * args.readers
        deadline = time.monotonic() + 10
        while len(latencies) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        left = await open_streams(api) - before - args.readers
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in stuck:
            sock.close()
    ms = sorted(1000 * x for x in latencies)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"stalled={stalled:>3}: {len(ms)}/{expected} deliveries to {args.readers} healthy "
        f"readers, latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms; "
        f"stalled dropped by the end {stalled - left}/{stalled}; "
        f"RSS {rss_before:.1f} -> peak {peak:.1f} MiB; "
        f"kernel TCP memory (whole machine) {kernel_before:.1f} -> peak {kernel_peak:.1f} MiB"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stalled", type=int, nargs="+", default=[0, 1, 100])
    parser.add_argument("--readers", type=int, default=50, help="healthy readers")
    parser.add_argument("--messages", type=int, default=200, help="items per scenario")
    parser.add_argument("--rate", type=float, default=20, help="items per second")
    args = parser.parse_args()
    args.seq = 0
    servers = Servers()
    servers.start()
    try:
        token = servers.ticker("token", "create", "--name", "bench").strip().splitlines()[-1]
        for stalled in args.stalled:
            print(await scenario(servers, token, args, stalled), flush=True)
    finally:
        servers.stop()


if __name__ == "__main__":
    asyncio.run(main())
