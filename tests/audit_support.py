"""A stand-in for PyPI's vulnerability data, reached the way pip-audit reaches PyPI.

pip-audit asks `https://pypi.org/pypi/<name>/<version>/json` for each package. The
tests point `HTTPS_PROXY` at `FakePyPI`, a local proxy that accepts `CONNECT pypi.org:443`
and answers inside the tunnel with TLS under a certificate of its own (trusted through
`REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE`), from a small table of releases. So the real
.ci/audit runs the real pip-audit end to end, with vulnerabilities the test chose.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.nginx_support import OPENSSL

Vulns = dict[tuple[str, str], list[dict[str, Any]]]


def vulnerability(vuln_id: str, fixed_in: str, *aliases: str) -> dict[str, Any]:
    """One entry as PyPI's JSON API lists it."""
    return {
        "id": vuln_id,
        "aliases": list(aliases),
        "details": f"{vuln_id}: a made-up vulnerability for the audit's tests.",
        "summary": None,
        "fixed_in": [fixed_in],
        "link": f"https://osv.dev/vulnerability/{vuln_id}",
        "source": "osv",
        "withdrawn": None,
    }


def pypi_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "pypi-cert.pem", folder / "pypi-key.pem"
    command = [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    command += ["-nodes", "-days", "1", "-subj", "/CN=pypi.org"]
    command += ["-addext", "subjectAltName=DNS:pypi.org", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key


class FakePyPI:
    """A CONNECT proxy that is pypi.org for the releases in `releases` (others: 404)."""

    def __init__(self, folder: Path, releases: Vulns) -> None:
        self.releases = releases
        self.cert, key = pypi_certificate(folder)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(self.cert, key)
        self.asked: list[str] = []
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake.serve(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """What the audit's environment needs to go through this proxy."""
        return {
            "HTTPS_PROXY": self.proxy,
            "https_proxy": self.proxy,
            "REQUESTS_CA_BUNDLE": str(self.cert),
            "SSL_CERT_FILE": str(self.cert),
            "NO_PROXY": "",
            "no_proxy": "",
        }

    def __enter__(self) -> FakePyPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def serve(self, conn: socket.socket) -> None:
        head = _read_head(conn)
        if not head.startswith(b"CONNECT pypi.org:443 "):
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with self.tls.wrap_socket(conn, server_side=True) as tunnel:
            while request := _read_head(tunnel):  # keep-alive: one request after another
                self.answer(tunnel, request.split(b" ")[1].decode())

    def answer(self, tunnel: ssl.SSLSocket, path: str) -> None:
        self.asked.append(path)
        parts = path.strip("/").split("/")  # pypi/<name>/<version>/json
        key = (parts[1].lower(), parts[2]) if len(parts) == 4 else None
        if key is None or key not in self.releases:
            status, body = b"404 Not Found", b'{"message": "Not Found"}'
        else:
            release = {"info": {"name": key[0], "version": key[1]}, "urls": []}
            status, body = (
                b"200 OK",
                json.dumps({**release, "vulnerabilities": self.releases[key]}).encode(),
            )
        tunnel.sendall(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
            b"Cache-Control: no-store\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )


def _read_head(conn: socket.socket) -> bytes:
    """One request head (our clients send no bodies); b"" when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = conn.recv(4096)
        except (ConnectionError, ssl.SSLError, OSError):
            return b""
        if not chunk:
            return b""
        data += chunk
    return data
