"""Chaos: Redis killed, crashed, or restarted empty under a running `ticker serve`, with
readers connected, a reader offline, and a publisher all along.

Where Redis kept its data, every acknowledged item reaches every reader and nothing is
reset. Where it lost data, every reader (connected or returning) gets a `reset` within
5 s, and no reader, REST call or new stream shows an item that Redis no longer has.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from tests.chaos_support import (
    RESET_DEADLINE,
    AofWatch,
    Counts,
    Publisher,
    Reader,
    Setup,
    restore_config,
    run_scenario,
    start_servers,
    stop_servers,
    truth,
)
from tests.waiting import eventually


@pytest.fixture
def everysec() -> Iterator[Setup]:
    setup = start_servers("everysec")
    yield setup
    stop_servers(setup)


@pytest.fixture
def always() -> Iterator[Setup]:
    setup = start_servers("always")
    yield setup
    stop_servers(setup)


async def sigkill_and_restart(setup: Setup) -> float:
    setup.redis.kill()
    await asyncio.sleep(1.0)  # the scenario: a second without Redis
    await asyncio.to_thread(setup.redis.start)  # same port, same folder
    return time.monotonic()


def assert_nothing_lost(counts: Counts) -> None:
    print(counts.line("chaos"))
    assert counts.acknowledged > 30
    assert counts.lost == 0
    assert set(counts.delivered.values()) == {counts.acknowledged}, counts.delivered
    assert set(counts.missed.values()) == {0}
    assert set(counts.phantom.values()) == {0}, counts.phantom
    assert set(counts.resets.values()) == {0}, counts.resets  # nothing to reset for


def assert_loss_is_told(counts: Counts) -> None:
    print(counts.line("chaos"))
    assert counts.lost > 0, "the scenario lost nothing: it proves nothing"
    kept = counts.acknowledged - counts.lost
    assert counts.redis_items == kept  # every item lives for hours: kept means live
    # Every item Redis kept reached every reader; nothing it lost is still shown.
    assert set(counts.missed.values()) == {0}, counts.missed
    assert min(counts.delivered.values()) >= kept
    assert set(counts.phantom.values()) == {0}, counts.phantom
    # Every reader, connected or returning, was told once (one loss, one new epoch),
    # within the deadline.
    assert set(counts.resets.values()) == {1}, counts.resets
    assert max(counts.reset_delay.values()) < RESET_DEADLINE, counts.reset_delay


async def test_sigkill_with_appendfsync_always(always: Setup) -> None:
    assert_nothing_lost(await run_scenario(always, sigkill_and_restart))


async def test_sigkill_with_appendfsync_everysec(everysec: Setup) -> None:
    """Usually nothing is lost: a killed Redis loses nothing it had written, the kernel
    still has it. But under everysec, while a background fsync is slow (a busy disk),
    Redis postpones its writes for up to 2 s and answers meanwhile: a SIGKILL then loses
    the last acknowledged items (seen here: 1 of 69). That is a loss like any other, and
    must be told like one."""
    counts = await run_scenario(everysec, sigkill_and_restart)
    if counts.lost == 0:
        assert_nothing_lost(counts)
    else:
        assert_loss_is_told(counts)


def os_crash(watch: AofWatch) -> Callable[[Setup], Awaitable[float]]:
    """SIGKILL, then the append-only file cut back by ~1 s of writes, as an OS crash
    would leave it under everysec; the publisher's next write lands as soon as Redis
    answers (the race that hid the loss before)."""

    async def crash(setup: Setup) -> float:
        await asyncio.sleep(1.2)  # the scenario: a second of history to cut back into
        setup.redis.kill()
        await watch.stop()
        assert watch.cut_back(1.0) > 0
        await asyncio.to_thread(setup.redis.start)
        return time.monotonic()

    return crash


async def test_os_crash_loses_the_last_second(everysec: Setup) -> None:
    watch = AofWatch(everysec.redis)
    watch.start()
    assert_loss_is_told(await run_scenario(everysec, os_crash(watch), before=2.0))
    # The process found its last entry gone: one new epoch, told to operators too.
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{everysec.ticker.base}/metrics")).text
    assert 'ticker_stream_reloads_total{reason="behind"} 1.0' in metrics


async def test_os_crash_on_the_asgi_path() -> None:
    """The same through Starlette and sse-starlette (TICKER_STREAM_FAST_PATH=false)."""
    setup = start_servers("everysec", TICKER_STREAM_FAST_PATH="false")
    try:
        watch = AofWatch(setup.redis)
        watch.start()
        assert_loss_is_told(await run_scenario(setup, os_crash(watch), before=2.0))
    finally:
        stop_servers(setup)


async def restart_empty(setup: Setup) -> float:
    """SIGKILL, the data gone, a fresh Redis; the channel re-added the moment it answers."""
    setup.redis.kill()
    shutil.rmtree(setup.redis.dir / "appendonlydir")
    await asyncio.to_thread(setup.redis.start)
    back = time.monotonic()
    await restore_config(setup)
    return back


async def test_restarted_empty_with_the_channel_added_at_once(everysec: Setup) -> None:
    assert_loss_is_told(await run_scenario(everysec, restart_empty))


async def test_offline_reader_returns_after_the_loss(everysec: Setup) -> None:
    """Finding 2: a reader away during the loss comes back once the process has already
    reloaded. Its id is older than the new epoch: a reset, never a silent resume."""
    base = everysec.ticker.base
    away = Reader(base, "away")
    away.start()
    publisher = Publisher(base, everysec.token, pause=0.05)
    publisher.start()
    await eventually(lambda: len(away.received) >= 20, "20 items read before leaving", 10)
    await away.stop()
    await publisher.stop()
    shown_before = len(away.items)
    watcher = Reader(base, "watcher")
    watcher.start()
    await eventually(lambda: bool(watcher.resets), "the watcher's first reset", 5)
    back = await restart_empty(everysec)
    await eventually(lambda: bool(watcher.resets_after(back)), "the reload", RESET_DEADLINE)
    await watcher.stop()

    returning = Reader(base, "away", away.last_id)
    returning.items = dict(away.items)
    returning.start()
    await eventually(lambda: bool(returning.resets), "the returning reset", RESET_DEADLINE)
    await returning.stop()
    items, _ = await truth(everysec)
    print(
        f"offline reader: showed {shown_before} before, {len(returning.items)} after; "
        f"Redis has {len(items)}; resets {len(returning.resets)}"
    )
    assert shown_before >= 20 and items == set()
    assert len(returning.resets) == 1 and returning.items == {}
