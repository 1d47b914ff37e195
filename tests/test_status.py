"""The fleet's status and a channel's reach.

Two real `ticker serve` processes on one Redis of this module's own, beating every
0.5 s (so a silent one is gone after 1.5 s): both listed with the right totals, one
killed disappears after its heartbeat's TTL, and readers connecting and disconnecting
on either process are counted, as are the streams each item went out to.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.desk_support import add_user, desk_client, login
from tests.support import RedisServer, Stream, TickerServer, cli, make_token, open_stream

BEAT = 0.5
TTL = 3 * BEAT


@pytest.fixture(scope="module")
def fleet_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.kill()


def _serve(redis: RedisServer) -> TickerServer:
    return TickerServer(redis.url, TICKER_HEARTBEAT_SECONDS=str(BEAT)).start()


@pytest.fixture(scope="module")
def fleet(fleet_redis: RedisServer) -> Iterator[list[TickerServer]]:
    servers = [_serve(fleet_redis), _serve(fleet_redis)]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def admin_token(fleet_redis: RedisServer) -> str:
    out = cli(fleet_redis.url, "token", "create", "--name", "ops", "--admin").stdout
    assert "every channel and the fleet's status" in out
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def editor_token(fleet_redis: RedisServer) -> str:
    return make_token(fleet_redis.url, "cms")


_n = iter(range(1000))


@pytest.fixture
def chan(fleet_redis: RedisServer, fleet: list[TickerServer]) -> str:
    name = f"s{next(_n)}"
    cli(fleet_redis.url, "channel", "add", name)
    for server in fleet:
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.base}/api/v1/channels/{name}/items").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    return name


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def poll(fetch: Any, check: Any, timeout: float = 10.0) -> Any:
    """`fetch()` until `check` accepts its result; the last result on timeout (failing)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(fetch)
        if check(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still {result!r} after {timeout} s")
        await asyncio.sleep(0.1)


def status(server: TickerServer, token: str) -> dict[str, Any]:
    r = httpx.get(f"{server.base}/api/v1/status", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()


def stats(server: TickerServer, token: str, channel: str) -> dict[str, Any]:
    r = httpx.get(f"{server.base}/api/v1/channels/{channel}/stats", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


@contextlib.asynccontextmanager
async def streams(server: TickerServer, n: int, **params: str) -> AsyncIterator[list[Stream]]:
    async with contextlib.AsyncExitStack() as stack:
        opened = [
            await stack.enter_async_context(open_stream(server.base, params or None))
            for _ in range(n)
        ]
        for s in opened:
            await s.next_of("reset")  # subscribed: its reset came
        yield opened


def test_status_is_for_admins_only(
    fleet: list[TickerServer], fleet_redis: RedisServer, editor_token: str
) -> None:
    url = f"{fleet[0].base}/api/v1/status"
    assert httpx.get(url).status_code == 401
    r = httpx.get(url, headers=bearer(editor_token))
    assert r.status_code == 403 and "--admin" in r.json()["detail"]
    # Desk sessions: an editor is refused, an admin gets the same view as an admin token.
    for role, expected in (("editor", 403), ("admin", 200)):
        with desk_client(fleet[0].base) as desk:
            csrf = login(desk, add_user(fleet_redis.url, role))
            r = desk.get("/api/v1/status", headers={"X-CSRF-Token": csrf})
            assert r.status_code == expected, r.text
            if expected == 200:
                assert r.json()["totals"]["processes"] == 2


def test_admin_token_cannot_be_limited(fleet_redis: RedisServer) -> None:
    result = cli(
        fleet_redis.url,
        "token",
        "create",
        "--name",
        "limited-admin",
        "--admin",
        "--channel",
        "main",
        check=False,
    )
    assert result.returncode == 1
    assert "--admin token covers every channel" in result.stderr
    listed = cli(fleet_redis.url, "token", "list").stdout
    assert "limited-admin" not in listed


async def test_two_processes_listed_with_totals_and_a_killed_one_vanishes(
    fleet_redis: RedisServer, admin_token: str, chan: str
) -> None:
    a, b = _serve(fleet_redis), _serve(fleet_redis)  # this test kills one: its own pair
    try:
        async with (
            streams(a, 3, channels=chan),
            streams(b, 1, channels=chan),
            streams(b, 1),  # every channel
        ):
            ours = {a.proc.pid, b.proc.pid}  # type: ignore[union-attr]

            def mine(body: dict[str, Any]) -> list[dict[str, Any]]:
                return [p for p in body["processes"] if p["pid"] in ours]

            body = await poll(
                lambda: status(a, admin_token),
                lambda s: sorted(p["subscribers"] for p in mine(s)) == [2, 3],
            )
            by_pid = {p["pid"]: p for p in mine(body)}
            pa, pb = by_pid[a.proc.pid], by_pid[b.proc.pid]  # type: ignore[union-attr]
            assert pa["channels"] == {chan: 3}
            assert pb["channels"] == {"*": 1, chan: 1}
            for p in (pa, pb):
                assert p["ready"] is True and p["version"] and p["host"] == os.uname().nodename
                assert p["behind_ms"] == 0 and p["dropped"] == 0
                assert p["log_position"] == body["log_head"]
            assert pa["id"] != pb["id"]
            totals = body["totals"]
            # The module's two servers are listed too, with no streams.
            assert totals["processes"] == 4 and totals["ready"] == 4
            assert totals["subscribers"] == 5
            assert totals["channels"] == {"*": 1, chan: 4}
            assert status(b, admin_token)["totals"] == totals  # any process tells the same

            killed_at = time.monotonic()
            b.kill()
            body = await poll(lambda: status(a, admin_token), lambda s: len(mine(s)) == 1)
            gone_after = time.monotonic() - killed_at
            print(f"killed process left the status view after {gone_after:.2f} s (TTL {TTL} s)")
            assert mine(body)[0]["pid"] == a.proc.pid  # type: ignore[union-attr]
            assert body["totals"]["subscribers"] == 3
            assert body["totals"]["channels"] == {chan: 3}
            # Gone by its TTL (after the last beat, so up to a beat more), not sooner.
            assert TTL - BEAT - 0.2 <= gone_after <= TTL + 3, gone_after
    finally:
        a.stop()
        b.stop()


async def test_a_stopped_process_leaves_at_once(
    fleet_redis: RedisServer, fleet: list[TickerServer], admin_token: str
) -> None:
    extra = _serve(fleet_redis)
    pid = extra.proc.pid  # type: ignore[union-attr]
    await poll(
        lambda: status(fleet[0], admin_token),
        lambda s: pid in [p["pid"] for p in s["processes"]],
    )
    extra.stop()
    body = status(fleet[0], admin_token)  # right after SIGTERM ended it: no TTL to wait
    assert pid not in [p["pid"] for p in body["processes"]]


async def test_readers_counted_over_every_process_as_they_come_and_go(
    fleet: list[TickerServer], admin_token: str, editor_token: str, chan: str
) -> None:
    a, b = fleet
    assert stats(a, editor_token, chan)["readers"] == 0
    async with streams(a, 2, channels=chan), streams(b, 1, channels=f"{chan},main"):
        await poll(lambda: stats(b, editor_token, chan), lambda s: s["readers"] == 3)
        async with streams(b, 1):  # a stream of every channel reads this one too
            await poll(lambda: stats(a, editor_token, chan), lambda s: s["readers"] == 4)
        await poll(lambda: stats(a, editor_token, chan), lambda s: s["readers"] == 3)
    body = await poll(lambda: stats(a, editor_token, chan), lambda s: s["readers"] == 0)
    assert body["processes"] == 2 and body["channel"] == chan


def beat_at(server: TickerServer, token: str) -> str:
    """When `server`'s process last beat, as /api/v1/status says (whole seconds)."""
    pid = server.proc.pid  # type: ignore[union-attr]
    [beat] = [p["beat_at"] for p in status(server, token)["processes"] if p["pid"] == pid]
    return str(beat)


async def test_each_item_counts_the_streams_it_went_out_to(
    fleet: list[TickerServer], editor_token: str, admin_token: str, chan: str
) -> None:
    a, b = fleet
    api = httpx.AsyncClient(base_url=a.base, headers=bearer(editor_token), timeout=10)
    async with streams(a, 2, channels=chan) as on_a, streams(b, 3, channels=chan) as on_b:
        item = (await api.post(f"/api/v1/channels/{chan}/items", json={"text": "خبر"})).json()
        for s in on_a + on_b:
            assert (await s.next_of("publish", timeout=5)).data["id"] == item["id"]

        def delivered(body: dict[str, Any]) -> int | None:
            found = [i["delivered"] for i in body["items"] if i["id"] == item["id"]]
            return found[0] if found else None

        await poll(lambda: stats(a, editor_token, chan), lambda s: delivered(s) == 5)
        # A new stream gets the item in its reset: one more. A stream of another
        # channel, and a resume that already had it, add nothing.
        async with streams(b, 1, channels=chan), streams(a, 1, channels="main"):
            pass
        last = on_a[0].last_id
        assert last is not None
        async with open_stream(a.base, {"channels": chan}, {"Last-Event-ID": last}) as resumed:
            await asyncio.sleep(0.3)  # the thing under test: nothing is replayed to it
            assert resumed.events.empty()
        body = await poll(lambda: stats(b, editor_token, chan), lambda s: delivered(s) == 6)
        # A beat of the resume's process after that (beat_at moves on) would have
        # counted it: still 6.
        seen = beat_at(a, admin_token)
        await poll(lambda: beat_at(a, admin_token), lambda at: at > seen)
        assert delivered(stats(b, editor_token, chan)) == 6
        posted = await api.post(f"/api/v1/channels/{chan}/items", json={"text": "خبر آخر"})
        second = posted.json()
        body = await poll(
            lambda: stats(a, editor_token, chan),
            lambda s: (
                [i["id"] for i in s["items"]] == [second["id"], item["id"]]
                and s["items"][0]["delivered"] == 5
            ),
        )
        assert body["items"][1]["delivered"] == 6
        assert all(i["live"] for i in body["items"])
        # Once retracted, it is counted still when asked for by id (the desk's "ended").
        gone = await api.delete(f"/api/v1/channels/{chan}/items/{item['id']}")
        assert gone.status_code == 204
        r = await api.get(
            f"/api/v1/channels/{chan}/stats", params={"items": f"{item['id']},{second['id']}"}
        )
        assert r.json()["items"] == [
            {"id": item["id"], "delivered": 6, "live": False},
            {"id": second["id"], "delivered": 5, "live": True},
        ]
        assert [i["id"] for i in stats(a, editor_token, chan)["items"]] == [second["id"]]
    await api.aclose()


def test_stats_follow_the_channel_rules(
    fleet: list[TickerServer], fleet_redis: RedisServer, chan: str
) -> None:
    base = fleet[0].base
    limited = make_token(fleet_redis.url, f"only-{chan}", chan)
    assert httpx.get(f"{base}/api/v1/channels/{chan}/stats").status_code == 401
    assert httpx.get(f"{base}/api/v1/channels/{chan}/stats", headers=bearer(limited)).is_success
    r = httpx.get(f"{base}/api/v1/channels/main/stats", headers=bearer(limited))
    assert r.status_code == 403
    r = httpx.get(f"{base}/api/v1/channels/nope/stats", headers=bearer(limited))
    assert r.status_code == 404
    for bad in ("", "x", "1-0,nope", ",".join(f"{n}-0" for n in range(101))):
        r = httpx.get(
            f"{base}/api/v1/channels/{chan}/stats", params={"items": bad}, headers=bearer(limited)
        )
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == "items"
    with desk_client(base) as desk:
        csrf = login(desk, add_user(fleet_redis.url, "editor", chan))
        r = desk.get(f"/api/v1/channels/{chan}/stats", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200 and r.json()["channel"] == chan
        r = desk.get("/api/v1/channels/main/stats", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 403


async def test_each_worker_is_a_process_of_its_own(
    fleet_redis: RedisServer, fleet: list[TickerServer], admin_token: str
) -> None:
    workers = TickerServer(
        fleet_redis.url, TICKER_HEARTBEAT_SECONDS=str(BEAT), TICKER_WORKERS="2"
    ).start()
    try:
        supervisor = workers.proc.pid  # type: ignore[union-attr]
        others = {s.proc.pid for s in fleet}  # type: ignore[union-attr]

        def theirs(body: dict[str, Any]) -> list[dict[str, Any]]:
            return [p for p in body["processes"] if p["pid"] not in others]

        body = await poll(lambda: status(fleet[0], admin_token), lambda s: len(theirs(s)) == 2)
        pids = {p["pid"] for p in theirs(body)}
        assert len(pids) == 2 and supervisor not in pids  # the workers, not their supervisor
        assert all(p["ready"] for p in theirs(body))
    finally:
        workers.stop()
    await poll(lambda: status(fleet[0], admin_token), lambda s: theirs(s) == [])
