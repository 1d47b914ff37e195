"""Scale-out, proven: Debian's nginx, configured from deploy/nginx/, in
front of three `ticker serve` processes on one Redis.

Subscribers connect through nginx (TLS; least_conn spreads them over the processes),
items are published through nginx, and every subscriber must receive every event
exactly once, in order. Then one process is SIGKILLed: its subscribers reconnect through
nginx to the others with Last-Event-ID and miss nothing, including what was published
while they were away. Then one is stopped the deploy way (SIGTERM): its subscribers get
a randomised `retry:` and a clean end through nginx, and resume on the last process.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.nginx_support import (
    DEPLOY_NGINX,
    NGINX,
    Nginx,
    Reader,
    publish,
    render_compose_site,
    render_site,
)
from tests.support import RedisServer, TickerServer, cli, make_token
from tests.waiting import eventually
from ticker.store import Keys

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(),
    reason=f"{NGINX} is missing: apt-get install nginx (.ci/run installs it)",
)

CHANNEL = "scale"
OTHER = "quiet"  # a second channel that nobody publishes on
READERS = 30
RETRY_MS = 300  # the app's retry: base, so that reconnects take a fraction of a second
PUBLIC = {"publish", "update", "retract", "expire"}
DEPLOY = DEPLOY_NGINX.parent


def directives(text: str) -> str:
    """The configuration without comments, for looking up directives."""
    return re.sub(r"#[^\n]*", "", text)


def block(text: str, opening: str) -> str:
    """The body of the `{ … }` block that starts with `opening` (no nested blocks)."""
    match = re.search(re.escape(opening) + r"\s*\{([^{}]*)\}", directives(text))
    assert match, f"no `{opening} {{ … }}` block"
    return match.group(1)


def test_shipped_nginx_config_has_the_stream_settings() -> None:
    proxy = (DEPLOY_NGINX / "ticker-proxy.conf").read_text()
    site = (DEPLOY_NGINX / "ticker.conf").read_text()
    common = re.split(r"(?m)^location ", directives(proxy))[0]
    for line in ("proxy_http_version 1.1;", 'proxy_set_header Connection "";'):
        assert line in common, f"ticker-proxy.conf lacks `{line}` at server level"
    stream = block(proxy, "location = /api/v1/stream")
    for line in ("proxy_buffering off;", "gzip off;", "proxy_pass http://ticker_stream;"):
        assert line in stream, f"the stream location lacks `{line}`"
    connect_timeout = re.search(r"proxy_connect_timeout (\d+)s;", stream)
    assert connect_timeout and int(connect_timeout.group(1)) <= 1, "streams retry a lost host"
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", stream)
    assert read_timeout and int(read_timeout.group(1)) >= 60, "the read timeout must be long"
    # nginx inherits proxy_set_header only into blocks that set none themselves.
    locations = re.findall(r"location[^{]*\{[^}]*\}", directives(proxy))
    assert locations and not any("proxy_set_header" in loc for loc in locations)

    for name in ("ticker_app", "ticker_stream"):
        upstream = block(site, f"upstream {name}")
        assert re.search(r"\bkeepalive \d+;", upstream)
        assert "least_conn;" in upstream, f"{name}: new connections to the least busy process"
    # A stream never completes, so nginx would never clear a failure mark it caused.
    stream_servers = re.findall(r"server (\S+)(.*);", block(site, "upstream ticker_stream"))
    assert stream_servers and all(opts.strip() == "max_fails=0" for _, opts in stream_servers)
    app_servers = re.findall(r"server (\S+)(.*);", block(site, "upstream ticker_app"))
    assert [a for a, _ in app_servers] == [a for a, _ in stream_servers], "same processes"
    assert re.search(r"listen 443 ssl http2;", directives(site)), "TLS with HTTP/2"
    assert "include snippets/ticker-proxy.conf;" in directives(site)

    main = directives((DEPLOY_NGINX / "nginx.conf").read_text())
    connections = re.search(r"worker_connections (\d+);", main)
    assert connections and int(connections.group(1)) >= 4096


def test_compose_and_nginx_files_agree(tmp_path: Path) -> None:
    """compose.yaml mounts the files tested here, and compose.conf is valid nginx."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    mounts = " ".join(services["nginx"]["volumes"])
    for name in ("ticker-proxy.conf", "compose.conf", "nginx.conf"):
        assert f"./nginx/{name}:" in mounts, f"compose's nginx does not mount {name}"
    assert "/etc/nginx/snippets/ticker-proxy.conf" in mounts
    compose_conf = (DEPLOY_NGINX / "compose.conf").read_text()
    site = (DEPLOY_NGINX / "ticker.conf").read_text()
    for upstream_name in ("ticker_app", "ticker_stream"):
        upstream = block(compose_conf, f"upstream {upstream_name}")
        for name in re.findall(r"server (\w+):\d+", upstream):
            assert name in services, f"compose.conf names {name}, which compose.yaml lacks"
        # The same balancing and failure rules as the host's site.
        options = set(re.findall(r"server \S+ (.*);", upstream))
        assert options == set(
            re.findall(r"server \S+ (.*);", block(site, f"upstream {upstream_name}"))
        )
        assert "least_conn;" in upstream
    assert "appendonly" in " ".join(services["redis"]["command"])

    nginx = Nginx(tmp_path)
    nginx.configure(
        render_compose_site((DEPLOY_NGINX / "compose.conf").read_text(), [8001, 8002], 8080)
    )
    nginx.check()


def test_deploy_readme_documents_an_ingress_for_streams() -> None:
    """The Kubernetes equivalent of ticker-proxy.conf's stream settings, in deploy/README.md."""
    readme = (DEPLOY / "README.md").read_text()
    section = readme.split("## Balancing long-lived streams", 1)[1].split("\n## ", 1)[0]
    [manifest] = [
        doc
        for text in re.findall(r"```yaml\n(.*?)```", section, re.S)
        for doc in [yaml.safe_load(text)]
        if doc.get("kind") == "Ingress"
    ]
    annotations = manifest["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert annotations[prefix + "proxy-buffering"] == "off"
    assert int(annotations[prefix + "proxy-read-timeout"]) >= 60
    assert annotations[prefix + "proxy-http-version"] == "1.1"
    [rule] = manifest["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = yaml.safe_load((DEPLOY / "k8s" / "service.yaml").read_text())
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in [port["name"] for port in service["spec"]["ports"]]


@dataclass
class Cluster:
    redis: RedisServer
    apps: list[TickerServer]
    nginx: Nginx
    token: str

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.nginx.base,
            verify=self.nginx.ssl_context(),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    redis = RedisServer().start()
    cli(redis.url, "channel", "add", CHANNEL, "--title", "Scale-out")
    cli(redis.url, "channel", "add", OTHER, "--title", "Quiet")
    token = make_token(redis.url, "scaleout")
    env = {"TICKER_RETRY_MS": RETRY_MS, "TICKER_EXPIRE_INTERVAL": "0.5"}
    apps = [TickerServer(redis.url, **env) for _ in range(3)]
    nginx = Nginx(tmp_path_factory.mktemp("nginx"))
    try:
        apps[0].start()  # the first one bootstraps the fresh Redis (main channel, admin)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(TickerServer.start, apps[1:]))
        site = (DEPLOY_NGINX / "ticker.conf").read_text()
        ports = [app.port for app in apps]
        nginx.configure(
            render_site(site, ports, nginx.http_port, nginx.https_port, nginx.cert, nginx.key)
        )
        nginx.start()
        yield Cluster(redis, apps, nginx, token)
    finally:
        nginx.stop()
        for app in apps:
            app.stop()
        redis.kill()


async def direct_subscribers(*apps: TickerServer) -> list[int]:
    """Streams each process serves on its fast path (which needs HTTP/1.1 from nginx)."""
    async with httpx.AsyncClient(timeout=2) as client:
        answers = [await client.get(f"{app.base}/readyz") for app in apps]
    return [r.json()["direct_subscribers"] for r in answers]


def test_plain_http_redirects_to_https(cluster: Cluster) -> None:
    r = httpx.get(f"http://127.0.0.1:{cluster.nginx.http_port}/api/v1/channels")
    assert r.status_code == 301
    assert r.headers["location"].startswith("https://")
    r = httpx.get(f"{cluster.nginx.base}/metrics", verify=cluster.nginx.ssl_context())
    assert r.status_code == 404, "metrics are scraped per process, not through the proxy"


async def test_http2_many_streams_on_one_connection(cluster: Cluster) -> None:
    """Eight streams (more than a browser's six HTTP/1.1 connections per host) over one
    HTTP/2 connection, each getting a live item at once."""
    out = cluster.nginx.prefix / "h2"
    out.mkdir()
    url = f"{cluster.nginx.base}/api/v1/stream?channels={CHANNEL}"
    args = ["curl", "--http2", "-sS", "-N", "-v", "-Z", "--cacert", str(cluster.nginx.cert)]
    args += ["--max-time", "8"]
    for n in range(8):
        args += [url, "-o", str(out / f"{n}.txt")]
    curl = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        files = [out / f"{n}.txt" for n in range(8)]

        def all_have(text: str) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return all(f.exists() and text in f.read_text() for f in files)

            return check

        await eventually(all_have("event: reset"), "eight streams open", 5)
        async with cluster.api() as api:
            item = await publish(api, CHANNEL, "عبر HTTP/2: ثمانية تدفقات على اتصال واحد")
        await eventually(all_have(f"id: {item['id']}"), "the item on every stream", 3)
    finally:
        curl.terminate()
        stderr = (await curl.communicate())[1].decode()
    assert "< HTTP/2 200" in stderr
    assert stderr.count("Connected to 127.0.0.1") == 1, "one connection for every stream"


async def test_subscribers_through_nginx_survive_losing_processes(cluster: Cluster) -> None:
    apps, nginx = cluster.apps, cluster.nginx
    log = cluster.redis.client()
    verify = nginx.ssl_context()
    kinds = [CHANNEL, None, f"{CHANNEL},{OTHER}"]  # one channel, every channel, two channels
    readers = [Reader(nginx.base, kinds[n % 3], verify) for n in range(READERS)]
    published: list[str] = []
    published_at: dict[str, tuple[float, float]] = {}  # id: (request sent, answered)

    def expected(reader: Reader) -> list[str]:
        """Every public event the reader should have had since its first snapshot."""
        wanted = None if reader.channels is None else set(reader.channels.split(","))
        start = reader.resets[0]
        entries: list[tuple[str, dict[str, str]]] = log.xrange(Keys("ticker:").log, min=f"({start}")  # type: ignore[assignment]
        return [
            entry_id
            for entry_id, fields in entries
            if fields["type"] in PUBLIC and (wanted is None or fields["channel"] in wanted)
        ]

    async def caught_up(timeout: float = 5.0) -> None:
        target = published[-1]
        deadline = time.monotonic() + timeout
        while any(target not in r.received_at for r in readers):
            behind = [r for r in readers if target not in r.received_at]
            assert time.monotonic() < deadline, (
                f"{len(behind)} readers never got {target}; one ended {behind[0].endings}"
            )
            await asyncio.sleep(0.02)

    def published_while_away(reader: Reader, n: int) -> list[str]:
        """Items published entirely between the end of the reader's connection n and
        the start of its next one."""
        away, back = reader.ended_at[n], reader.connected_at[n + 1]
        return [i for i, (sent, done) in published_at.items() if away < sent and done < back]

    def check_exact() -> None:
        for n, reader in enumerate(readers):
            assert reader.problems == [], f"reader {n}: {reader.problems}"
            assert reader.ids == expected(reader), f"reader {n} ({reader.channels})"

    async def publish_many(api: httpx.AsyncClient, count: int, label: str, pause: float) -> None:
        for n in range(count):
            sent = time.monotonic()
            item = await publish(api, CHANNEL, f"{label}: خبر عاجل رقم {n}")
            published.append(item["id"])
            published_at[item["id"]] = (sent, time.monotonic())
            await asyncio.sleep(pause)

    for reader in readers:
        reader.start()
    try:
        # Everyone is connected, spread over the three processes, on the fast path.
        async def all_connected() -> bool:
            return sum(await direct_subscribers(*apps)) == READERS and all(
                r.resets for r in readers
            )

        await eventually(all_connected, "every reader connected", 10)
        spread = await direct_subscribers(*apps)
        assert min(spread) >= READERS // 6, f"least_conn should spread the readers: {spread}"

        async with cluster.api() as api:
            # 1. Publish, correct and retract through nginx: everyone sees each change once.
            started = time.monotonic()
            await publish_many(api, 15, "أولاً", 0)
            first = published[0]
            r = await api.patch(
                f"/api/v1/channels/{CHANNEL}/items/{first}", json={"text": "تصحيح: خبر عاجل"}
            )
            assert r.status_code == 200, r.text
            r = await api.request(
                "DELETE", f"/api/v1/channels/{CHANNEL}/items/{published[1]}", json={"reason": "خطأ"}
            )
            assert r.status_code == 204, r.text
            await publish_many(api, 1, "أولاً", 0)
            await caught_up()
            check_exact()
            slowest = max(r.received_at[published[-1]] for r in readers) - started
            assert slowest < 3, f"unbuffered delivery through nginx took {slowest:.2f} s"

            # 2. SIGKILL the busiest process; publish while its readers reconnect.
            counts = await direct_subscribers(*apps)
            on_victim = max(counts)
            victim = apps[counts.index(on_victim)]
            victim.kill()
            await publish_many(api, 10, "أثناء إعادة الاتصال", 0.03)

            async def all_back() -> bool:
                return sum(r.connects == 2 for r in readers) == on_victim

            await eventually(all_back, "the killed process's readers reconnected", 10)
            await publish_many(api, 5, "بعد الاتصال", 0)
            await caught_up()
            check_exact()
            moved = [r for r in readers if r.connects == 2]
            assert len(moved) == on_victim
            assert all(r.connects == 1 and r.endings == [] for r in readers if r not in moved)
            for mover in moved:
                assert mover.endings[0] != "clean", "a killed process cannot end a stream cleanly"
                assert mover.sent_ids[1] is not None, "reconnects resume with Last-Event-ID"
                assert published_while_away(mover, 0), "nothing was published during the gap"
            assert all(len(set(r.resets)) == 1 for r in readers), "a resume sent a reset"
            alive = [app for app in apps if app is not victim]
            assert sum(await direct_subscribers(*alive)) == READERS

            # 3. Stop another the deploy way: a farewell retry:, a clean end, no loss.
            leaving, last = alive
            [on_leaving] = await direct_subscribers(leaving)
            assert leaving.proc is not None and on_leaving > 0
            leaving.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await publish_many(api, 10, "أثناء الإيقاف", 0.03)
            await asyncio.to_thread(leaving.proc.wait, 10)
            exited = time.monotonic() - signalled
            leaving.proc = None

            async def all_on_last() -> bool:
                return await direct_subscribers(last) == [READERS]

            await eventually(all_on_last, "every reader on the last process", 10)
            await publish_many(api, 5, "أخيراً", 0)
            await caught_up()
            check_exact()
    finally:
        for reader in readers:
            await reader.stop()
        log.close()

    assert exited < 6, f"SIGTERM to exit took {exited:.1f} s"
    farewelled = [r for r in readers if r.farewells]
    assert len(farewelled) == on_leaving, [r.endings for r in readers]
    values = [r.farewells[0] for r in farewelled]
    assert all(RETRY_MS <= v <= 5 * RETRY_MS for v in values), values
    if len(values) >= 3:
        assert len(set(values)) > 1, f"farewell delays are not randomised: {values}"
    for leaver in farewelled:
        assert leaver.sent_ids[-1] is not None
        assert published_while_away(leaver, len(leaver.ended_at) - 1), "nothing published then"
    errors = nginx.error_log()
    assert "buffered to a temporary file" not in errors, "a stream was buffered by nginx"
    assert not re.search(r"\[(emerg|alert|crit)\]", errors), errors


# A restarted process must fill up again. With failure marks on the
# stream upstream (`max_fails=1 fail_timeout=5s`, the config before), nginx marks the killed
# process failed when a reconnect is refused, and clears the mark only when a request to
# it completes: a stream never does, so the restarted process got one stream per 5 s.
OLD_STREAM_SERVER = "max_fails=1 fail_timeout=5s"
FIRST_READERS = 30
NEW_READERS = 30


def with_old_stream_marks(site: str) -> str:
    """The rendered site with the failure marks the stream upstream used to have."""
    upstream = block(site, "upstream ticker_stream")
    assert "max_fails=0;" in upstream
    return site.replace(upstream, upstream.replace("max_fails=0;", f"{OLD_STREAM_SERVER};"))


@pytest.mark.parametrize("stream_upstream", ["shipped", "old-failure-marks"])
async def test_a_restarted_process_gets_new_streams(
    stream_upstream: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    redis = RedisServer().start()
    apps = [TickerServer(redis.url, TICKER_RETRY_MS=RETRY_MS) for _ in range(3)]
    nginx = Nginx(tmp_path)
    readers: list[Reader] = []
    try:
        apps[0].start()  # bootstraps the fresh Redis
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(TickerServer.start, apps[1:]))
        site = render_site(
            (DEPLOY_NGINX / "ticker.conf").read_text(),
            [app.port for app in apps],
            nginx.http_port,
            nginx.https_port,
            nginx.cert,
            nginx.key,
        )
        nginx.configure(site if stream_upstream == "shipped" else with_old_stream_marks(site))
        nginx.start()
        verify = nginx.ssl_context()

        async def open_readers(count: int) -> list[Reader]:
            new = [Reader(nginx.base, None, verify) for _ in range(count)]
            for reader in new:
                reader.start()
            readers.extend(new)
            return new

        async def serving() -> bool:
            """Every reader has its snapshot and holds an open stream on a live process."""
            alive = [app for app in apps if app.proc is not None]
            total = sum(await direct_subscribers(*alive))
            return total == len(readers) and all(r.resets for r in readers)

        await open_readers(FIRST_READERS)
        await eventually(serving, "the first readers connected", 15)

        victim = apps[0]
        victim.kill()
        # Its readers reconnect (at once: retry: is 0.3 s) and are refused by the dead process
        # before nginx sends them on to the others.
        await eventually(serving, "the killed process's readers moved", 15)
        before = [0, *await direct_subscribers(*apps[1:])]
        await asyncio.to_thread(victim.start)  # the same port, as systemd's restart would

        new = await open_readers(NEW_READERS)
        await eventually(serving, "the new readers connected", 15)
        after = await direct_subscribers(*apps)
        split = [a - b for a, b in zip(after, before, strict=True)]
        with capsys.disabled():
            print(f"\n[{stream_upstream}] before the restart {before}; new streams {split}")
        assert sum(split) == len(new)
        if stream_upstream == "shipped":
            # least_conn: new streams go to the empty process until it catches up
            # (ideally 20/5/5 for 30 new streams on 0/15/15).
            assert split[0] >= NEW_READERS // 2, f"the restarted process stays empty: {split}"
            assert max(after) - min(after) <= 6, f"unbalanced after the restart: {after}"
        else:
            # The bug this config fixes, reproduced: one new stream per fail_timeout.
            assert split[0] <= 2, f"the old config's bug did not reproduce: {split}"
    finally:
        for reader in readers:
            await reader.stop()
        nginx.stop()
        for app in apps:
            app.stop()
        redis.kill()
