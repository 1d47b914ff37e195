"""The server CPU of one stream request naming many unknown channels.

Starts a redis-server and `ticker serve`, sends `--requests` times
`GET /api/v1/stream?channels=<--names unknown names>` and prints the answer and the
server's CPU per request (user + system time from /proc, less an idle interval of the
same length). Such a URL is larger than the default head limit (431 at once); to time
the channel logic itself, the server runs with TICKER_MAX_HEAD_BYTES raised to 1 MiB.

    python benchmarks/unknown_channels.py                 # 10,000 names, 20 requests
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import httpx
from stalled_readers import Servers


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("TICKER_MAX_HEAD_BYTES", str(1 << 20))
    servers = Servers()
    servers.start()
    try:
        url = f"http://127.0.0.1:{servers.port}/api/v1/stream"
        names = ",".join(f"x{n}" for n in range(args.names))  # short: httpx caps a query at 64 KiB
        with httpx.Client(timeout=120) as client:
            client.get(url.replace("/api/v1/stream", "/healthz"))
            pid = servers.server.pid
            cpu, started = cpu_seconds(pid), time.monotonic()
            for _ in range(args.requests):
                r = client.get(f"{url}?channels={names}")
            busy = cpu_seconds(pid) - cpu
            wall = time.monotonic() - started
            cpu = cpu_seconds(pid)
            time.sleep(wall)  # the same interval, idle: pings, the reader's XREAD
            idle = cpu_seconds(pid) - cpu
        per_request_ms = 1000 * (busy - idle) / args.requests
        print(
            f"{args.names} unknown names, {args.requests} requests: answer {r.status_code} "
            f"{r.text[:120]!r}; server CPU {per_request_ms:.1f} ms per request "
            f"(busy {busy:.2f} s, idle {idle:.2f} s over {wall:.2f} s)"
        )
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
