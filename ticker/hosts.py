"""Which names the service answers to, and the base of its absolute links.

A request's Host header is the client's to write. Repeated into a feed's links (which
caches keep for 30 s) or into the /demo page's snippets, a forged one would hand other
readers links to a host of the attacker's choosing. So:

- `TICKER_PUBLIC_URL`, when set, is the base of every absolute link: the Host header is
  never used for one;
- otherwise a link uses the request's Host, which `HostCheck` has compared with
  `TICKER_ALLOWED_HOSTS` (loopback names by default, plus the public URL's host): any
  other name gets a 400 before a route runs.

`/healthz`, `/readyz` and `/metrics` answer whatever the Host: they never repeat it, and
probes and scrapers address a process by its IP.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from ticker.problems import Problem


class EdgeSettings(Protocol):
    """The settings read here (ticker.config.Settings has them; config checks them with
    this module's parsers, so this module does not import config)."""

    @property
    def allowed_hosts(self) -> str: ...
    @property
    def public_url(self) -> str | None: ...
    @property
    def host(self) -> str: ...


log = logging.getLogger("ticker.hosts")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
ANY_HOST_PATHS = frozenset({"/healthz", "/healthz/redis", "/readyz", "/metrics"})
_NAME = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")
# A Host header: a name or a bracketed IPv6 literal, then perhaps a port; nothing else.
_HOST_HEADER = re.compile(r"^(?P<name>[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?\Z")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class HostError(ValueError):
    """A host, URL or network setting that cannot be used; the message says how to fix it."""


def parse_public_url(value: str) -> str:
    """`TICKER_PUBLIC_URL` as a link base: scheme, host, port, path; no trailing slash."""
    parts = urlsplit(value.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == -1
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise HostError(
            f"TICKER_PUBLIC_URL must be the service's public base URL, such as "
            f"https://ticker.example or https://news.example/ticker, not {value!r}."
        )
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def parse_hosts(value: str) -> frozenset[str]:
    """`TICKER_ALLOWED_HOSTS`: names, `*.domain` patterns, IP addresses, or `*`."""
    hosts = set()
    for raw in value.split(","):
        name = raw.strip().lower().rstrip(".")
        if not name:
            continue
        if name == "*" or _NAME.match(name):
            hosts.add(name)
            continue
        try:
            hosts.add(f"[{ipaddress.IPv6Address(name.strip('[]'))}]")
        except ValueError:
            raise HostError(
                f"TICKER_ALLOWED_HOSTS: {raw.strip()!r} is not a host name; give names such "
                "as ticker.example, *.example.com, 127.0.0.1 or [::1], separated by commas, "
                "or * for any."
            ) from None
    return frozenset(hosts)


def parse_networks(value: str) -> tuple[Network, ...]:
    """`TICKER_METRICS_ALLOW`: CIDR networks or single addresses, `*`, or `none`."""
    text = value.strip().lower()
    if text == "none":
        return ()
    if text == "*":
        return (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    networks = []
    for raw in text.split(","):
        if raw.strip():
            try:
                networks.append(ipaddress.ip_network(raw.strip(), strict=False))
            except ValueError:
                raise HostError(
                    f"TICKER_METRICS_ALLOW: {raw.strip()!r} is not a network; give CIDR "
                    "ranges such as 10.0.0.0/8 or addresses such as 127.0.0.1, separated "
                    "by commas, * for everyone or none for nobody."
                ) from None
    return tuple(networks)


def address_in(address: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether a client address (as uvicorn reports it) lies in one of `networks`."""
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def host_name(header: str) -> str | None:
    """The name part of a Host header (no port, lower case, no trailing dot), or None when
    the header is not a host name at all. Strict on purpose: Starlette builds links from
    the header as it is, so `localhost:1@evil.example` must not pass for `localhost`."""
    match = _HOST_HEADER.match(header.strip().lower())
    return match.group("name").rstrip(".") if match else None


@dataclass(frozen=True)
class AllowedHosts:
    names: frozenset[str]

    @classmethod
    def of(cls, settings: EdgeSettings) -> AllowedHosts:
        names = set(parse_hosts(settings.allowed_hosts))
        if settings.public_url is not None:
            public = urlsplit(parse_public_url(settings.public_url)).hostname or ""
            names |= parse_hosts(public if ":" not in public else f"[{public}]")
        return cls(frozenset(names))

    def allow(self, name: str) -> bool:
        if "*" in self.names or name in self.names:
            return True
        return any(p.startswith("*.") and name.endswith(p[1:]) for p in self.names)


class HostCheck:
    """400 for a request whose Host is not an allowed name (ASGI middleware).

    Like Starlette's TrustedHostMiddleware, but its refusal is a problem+json that says
    which setting to change, and the probes' paths are exempt (see the module's text)."""

    def __init__(self, app: ASGIApp, settings: EdgeSettings) -> None:
        self.app = app
        self.hosts = AllowedHosts.of(settings)
        if self.hosts.names <= LOOPBACK_NAMES and settings.host not in ("127.0.0.1", "::1"):
            # Listening beyond loopback yet answering only loopback names: say so at
            # start, not only in the 400s that browsers will get.
            log.warning(
                "listening on %s but answering only the host names %s: set TICKER_PUBLIC_URL "
                "(or TICKER_ALLOWED_HOSTS) to the name readers use",
                settings.host,
                ", ".join(sorted(self.hosts.names)),
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in ANY_HOST_PATHS:
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"host"), None)
        # No Host at all (HTTP/1.0): links fall back to the server's own address.
        if header is None:
            await self.app(scope, receive, send)
            return
        name = host_name(header.decode("latin-1"))
        if name is not None and self.hosts.allow(name):
            await self.app(scope, receive, send)
            return
        # The name itself is not repeated: a forged one is reflected nowhere.
        problem = Problem(
            400,
            "This ticker does not serve the host name in this request's Host header. If it "
            "should, add the name to TICKER_ALLOWED_HOSTS, or set TICKER_PUBLIC_URL to the "
            "service's public URL.",
            title="Unknown host",
        )
        await problem.response()(scope, receive, send)
