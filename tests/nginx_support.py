"""Debian's nginx in front of `ticker serve` processes, configured from deploy/nginx/.

The shipped site file (deploy/nginx/ticker.conf, TLS and HTTP/2) and its shared
snippet (ticker-proxy.conf) are used as they are, with only the addresses, ports
and certificate paths rewritten for the test: what the tests prove is what we ship.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port
from tests.waiting import wait_for
from ticker.tail import SseParser

NGINX = "/usr/sbin/nginx"
OPENSSL = "/usr/bin/openssl"
DEPLOY_NGINX = Path(__file__).resolve().parent.parent / "deploy" / "nginx"
SNIPPET = "snippets/ticker-proxy.conf"  # where ticker.conf includes it from


UPSTREAMS = ("ticker_app", "ticker_stream")  # short requests, and the event stream


def rewrite_upstream(conf: str, ports: list[int]) -> str:
    """Every upstream (see UPSTREAMS) with one server line per port, keeping the shipped
    options of each."""
    for name in UPSTREAMS:
        conf = _rewrite_one_upstream(conf, name, ports)
    return conf


def _rewrite_one_upstream(conf: str, name: str, ports: list[int]) -> str:
    block = re.search(rf"(?ms)^upstream {name} \{{\n(.*?)^\}}", conf)
    assert block, f"no `upstream {name} {{ … }}` block"
    body = block.group(1)
    servers = re.findall(r"(?m)^(\s*)server \S+(.*);\s*$", body)
    assert servers, f"the upstream {name} lists no server"
    indent, options = servers[0]
    lines = "".join(f"{indent}server 127.0.0.1:{port}{options};\n" for port in ports)
    first = re.search(r"(?m)^\s*server \S+.*;\s*\n", body)
    assert first is not None
    body = re.sub(r"(?m)^\s*server \S+.*;\s*\n", "", body)
    body = body[: first.start()] + lines + body[first.start() :]
    return conf[: block.start(1)] + body + conf[block.end(1) :]


def render_site(conf: str, ports: list[int], http: int, https: int, cert: Path, key: Path) -> str:
    """deploy/nginx/ticker.conf for this machine: our app ports, our listen ports, our
    certificate; every other line exactly as shipped."""
    conf = rewrite_upstream(conf, ports)
    conf = re.sub(r"(?m)^(\s*)listen \[::\]:.*;\n", "", conf)  # loopback IPv4 only
    conf, n_http = re.subn(r"(?m)^(\s*)listen 80;", rf"\1listen 127.0.0.1:{http};", conf)
    conf, n_https = re.subn(r"(?m)^(\s*)listen 443 (.*);", rf"\1listen 127.0.0.1:{https} \2;", conf)
    conf, n_cert = re.subn(r"(?m)^(\s*)ssl_certificate \S+;", rf"\1ssl_certificate {cert};", conf)
    conf, n_key = re.subn(
        r"(?m)^(\s*)ssl_certificate_key \S+;", rf"\1ssl_certificate_key {key};", conf
    )
    assert (n_http, n_https, n_cert, n_key) == (1, 1, 1, 1), "ticker.conf changed shape"
    return conf


def render_compose_site(conf: str, ports: list[int], http: int) -> str:
    """deploy/nginx/compose.conf with the replicas' DNS names replaced by our ports."""
    conf = rewrite_upstream(conf, ports)
    conf, n = re.subn(r"(?m)^(\s*)listen 80\b", rf"\1listen 127.0.0.1:{http}", conf)
    assert n == 1, "compose.conf changed shape"
    return conf


def main_conf(prefix: Path, site: Path) -> str:
    """A minimal nginx.conf around a site file, everything inside `prefix`. The pid
    file and `daemon off` are given on the command line (Nginx.command)."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read our files
    temp = "".join(
        f"    {kind}_temp_path {prefix / 'temp' / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 2;\n"
        f"error_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "    default_type application/octet-stream;\n"
        "    log_format test '$remote_addr \"$request\" $status upstream=$upstream_addr';\n"
        f"    access_log {prefix / 'access.log'} test;\n"
        f"{temp}"
        f"    include {site};\n"
        "}\n"
    )


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            OPENSSL,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class Nginx:
    """Debian's nginx in the foreground, with a prefix folder of its own."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix  # an empty folder of its own: configuration, logs, temp files
        (self.prefix / SNIPPET).parent.mkdir(parents=True)
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "temp" / kind).mkdir(parents=True)
        self.http_port = free_port()
        self.https_port = free_port()
        self.cert, self.key = make_certificate(self.prefix)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def configure(self, site_text: str) -> None:
        """Write the site file, the shipped snippet beside it, and the main file."""
        shutil.copyfile(DEPLOY_NGINX / "ticker-proxy.conf", self.prefix / SNIPPET)
        site = self.prefix / "site.conf"
        site.write_text(site_text)
        self.conf.write_text(main_conf(self.prefix, site))

    def command(self, *extra: str) -> list[str]:
        # -p: relative includes resolve here; -e: the log nginx opens before its config.
        return [
            NGINX,
            "-p",
            f"{self.prefix}/",
            "-e",
            str(self.prefix / "error.log"),
            "-c",
            str(self.conf),
            "-g",
            f"daemon off; pid {self.prefix / 'nginx.pid'};",
            *extra,
        ]

    def check(self) -> str:
        """`nginx -t`: raises with nginx's own words when the configuration is wrong."""
        result = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise AssertionError(f"nginx -t failed:\n{result.stderr}")
        return result.stderr

    def start(self) -> Nginx:
        self.check()
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.error_log()}")
            r = httpx.get(f"{self.base}/healthz", verify=self.ssl_context(), timeout=2)
            return r.status_code == 200

        wait_for(up, "nginx answers through its upstreams", timeout=10)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: let workers finish
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Reader:
    """A subscriber that behaves like a browser's EventSource: it reconnects after every
    end of its stream, waiting the server's `retry:` time, and resumes with the
    Last-Event-ID header. It records everything needed to prove exactness."""

    def __init__(self, base: str, channels: str | None, verify: ssl.SSLContext) -> None:
        self.base = base
        self.channels = channels  # the `channels` parameter; None: every channel
        self.verify = verify
        self.parser = SseParser()
        self.retry_ms = 3000  # EventSource's usual default, until the server says
        self.ids: list[str] = []  # ids of the public events received, in order
        self.resets: list[str] = []  # ids of the reset events received
        self.connects = 0
        self.sent_ids: list[str | None] = []  # the Last-Event-ID of each connection
        self.endings: list[str] = []  # "clean" (a complete response) or the error
        self.farewells: list[int] = []  # retry: of a final retry-only frame, per clean end
        self.problems: list[str] = []
        self.connected_at: list[float] = []  # monotonic time of each 200 response
        self.ended_at: list[float] = []  # ... and of each end of a stream
        self.received_at: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def last_id(self) -> str | None:
        return self.parser.last_event_id or None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        timeout = httpx.Timeout(5.0, read=None)
        async with httpx.AsyncClient(verify=self.verify, timeout=timeout) as client:
            while not self._stopping:
                if await self._connect_once(client):
                    self.ended_at.append(time.monotonic())
                await asyncio.sleep(self.retry_ms / 1000)

    async def _connect_once(self, client: httpx.AsyncClient) -> bool:
        """One connection; True when a stream was open and has ended."""
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        params = {"channels": self.channels} if self.channels is not None else {}
        tail = b""
        opened = False
        try:
            async with client.stream(
                "GET", f"{self.base}/api/v1/stream", params=params, headers=headers
            ) as response:
                if response.status_code != 200:
                    self.endings.append(f"status {response.status_code}")
                    return False
                opened = True
                self.connects += 1
                self.connected_at.append(time.monotonic())
                self.sent_ids.append(headers.get("Last-Event-ID"))
                async for chunk in response.aiter_raw():
                    tail = (tail + chunk)[-256:]
                    for event in self.parser.feed(chunk):
                        self._take(event.event, event.id)
                    if self.parser.retry is not None:
                        self.retry_ms = self.parser.retry
                self.endings.append("clean")
            final = re.search(rb"(?:^|\n)retry: (\d+)\n\n$", tail)
            if final:
                self.farewells.append(int(final.group(1)))
        except httpx.HTTPError as exc:
            self.endings.append(f"{type(exc).__name__}: {exc}")
        return opened

    def _take(self, event: str, event_id: str | None) -> None:
        if event_id is None:
            self.problems.append(f"{event} without an id")
            return
        if event == "reset":
            self.resets.append(event_id)
            return
        if event_id in self.received_at:
            self.problems.append(f"{event} {event_id} received twice")
        elif self.ids and _key(event_id) <= _key(self.ids[-1]):
            self.problems.append(f"{event} {event_id} after {self.ids[-1]}: out of order")
        self.received_at.setdefault(event_id, time.monotonic())
        self.ids.append(event_id)


def _key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


async def publish(
    client: httpx.AsyncClient, channel: str, text: str, attempts: int = 20
) -> dict[str, Any]:
    """POST an item through the proxy the way a careful desk does: with an
    Idempotency-Key, retried on 502/503/504 and on transport errors."""
    key = str(uuid.uuid4())
    last: Any = None
    for _ in range(attempts):
        try:
            r = await client.post(
                f"/api/v1/channels/{channel}/items",
                json={"text": text, "ttl_seconds": 3600},
                headers={"Idempotency-Key": key},
            )
        except httpx.TransportError as exc:
            last = exc
        else:
            if r.status_code in (200, 201):
                return r.json()
            if r.status_code not in (502, 503, 504):
                raise AssertionError(f"publish answered {r.status_code}: {r.text}")
            last = r.status_code
        await asyncio.sleep(0.1)
    raise AssertionError(f"publish kept failing: {last}")
