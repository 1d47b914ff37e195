"""Proxies trusted by configuration, not by default.

The shipped compose and Kubernetes files set `FORWARDED_ALLOW_IPS="*"` while nginx
appended to the client's `X-Forwarded-For`: uvicorn then took the leftmost entry, which
the client wrote, and 25 bad logins under 25 invented addresses never met the login
throttle. Here Debian's nginx runs the shipped site and proxy snippet in front of a real
`ticker serve` configured as deploy/systemd/ticker.env.example documents, and the same
attack must reach 429.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.desk_support import login_attempt, unique
from tests.nginx_support import DEPLOY_NGINX, NGINX, Nginx, render_site
from tests.support import RedisServer, TickerServer

DEPLOY = DEPLOY_NGINX.parent
ATTEMPTS = 25
FORGED = "198.51.100"  # TEST-NET-2: the addresses the attacker writes


def env_example() -> dict[str, str]:
    """The settings file the systemd units read, as shipped."""
    text = (DEPLOY / "systemd" / "ticker.env.example").read_text()
    return dict(re.findall(r"(?m)^([A-Z_]+)=(.*)$", text))


def kustomize_literals() -> dict[str, str]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    (edge,) = [g for g in kustomization["configMapGenerator"] if g["name"] == "ticker-edge"]
    return dict(literal.split("=", 1) for literal in edge["literals"])


def test_no_shipped_file_trusts_every_proxy() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    app_env = compose["x-app"]["environment"]
    nginx_address = compose["services"]["nginx"]["networks"]["edge"]["ipv4_address"]
    assert app_env["FORWARDED_ALLOW_IPS"] == nginx_address, "compose trusts nginx only"
    for name in ("app1", "app2"):
        assert compose["services"][name]["environment"]["FORWARDED_ALLOW_IPS"] == nginx_address
    subnet = compose["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert nginx_address.startswith(subnet.rsplit(".", 1)[0] + ".")

    deployment = (DEPLOY / "k8s" / "deployment.yaml").read_text()
    assert "FORWARDED_ALLOW_IPS" not in re.sub(r"#[^\n]*", "", deployment)
    assert "ticker-edge" in deployment
    literals = kustomize_literals()
    assert literals["FORWARDED_ALLOW_IPS"] != "*"
    assert literals["TICKER_PUBLIC_URL"].startswith("https://")

    assert env_example()["FORWARDED_ALLOW_IPS"] == "127.0.0.1"
    for unit in ("ticker.service", "ticker@.service"):
        assert "FORWARDED_ALLOW_IPS" not in (DEPLOY / "systemd" / unit).read_text()

    proxy = re.sub(r"#[^\n]*", "", (DEPLOY_NGINX / "ticker-proxy.conf").read_text())
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in proxy
    assert "$proxy_add_x_forwarded_for" not in proxy


@dataclass
class Edge:
    redis: RedisServer
    app: TickerServer
    nginx: Nginx

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.nginx.base,
            verify=self.nginx.ssl_context(),
            follow_redirects=False,
            timeout=20,
        )


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: apt-get install nginx (.ci/run installs it)")
    documented = env_example()
    redis = RedisServer().start()
    app = TickerServer(
        redis.url,
        FORWARDED_ALLOW_IPS=documented["FORWARDED_ALLOW_IPS"],
        TICKER_PUBLIC_URL=documented["TICKER_PUBLIC_URL"],
    )
    nginx = Nginx(tmp_path_factory.mktemp("nginx"))
    try:
        app.start()
        site = (DEPLOY_NGINX / "ticker.conf").read_text()
        nginx.configure(
            render_site(site, [app.port], nginx.http_port, nginx.https_port, nginx.cert, nginx.key)
        )
        nginx.start()
        yield Edge(redis, app, nginx)
    finally:
        nginx.stop()
        app.stop()
        redis.kill()


def test_a_client_written_x_forwarded_for_cannot_dodge_the_login_throttle(edge: Edge) -> None:
    statuses = []
    with edge.client() as client:
        for i in range(ATTEMPTS):
            # A new account name each time, so only the per-address limit can answer, and
            # every header a proxy-aware app might read, each time a new address.
            forged = f"{FORGED}.{i + 1}"
            headers = {
                "X-Forwarded-For": f"{forged}, 203.0.113.{i + 1}",
                "X-Real-IP": forged,
                "Forwarded": f"for={forged}",
            }
            r = login_attempt(client, unique("nobody"), "wrong password", headers=headers)
            statuses.append(r.status_code)
    assert statuses[0] == 401, statuses  # the login itself works through the proxy
    assert 429 in statuses, f"no 429 in {ATTEMPTS} bad logins: {statuses}"
    assert set(statuses) <= {401, 429}, statuses
    first = statuses.index(429)
    assert all(s == 429 for s in statuses[first:]), statuses  # and it stays throttled
    # What the throttle counted is nginx's view of the client, not the forged one.
    keys = edge.redis.client().keys("*")
    assert not [k for k in keys if FORGED in k or "203.0.113" in k], keys
