"""True metrics with several workers: `ticker serve --workers 2`,
one worker SIGKILLed and restarted by uvicorn; `ticker_subscribers` must then equal the
streams still open, every live worker must have its `process_*` metrics (labelled by
pid), and the metrics folder must be gone once the service has stopped."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.support import RedisServer, TickerServer, cli, open_stream
from tests.waiting import eventually

CHANNEL = "workers"
STREAMS = 16
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
needs_promtool = pytest.mark.skipif(
    not Path(PROMTOOL).exists(),
    reason="promtool is missing: apt-get install prometheus (.ci/check-monitoring does)",
)
PROCESS_METRICS = (
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
)


def workers(supervisor: int) -> set[int]:
    """The supervisor's worker processes (multiprocessing's spawned children)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(b")", 1)[-1].split()[1])
        if parent == supervisor and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def streams_held(folder: Path, pid: int) -> float:
    """The `ticker_subscribers` a worker has written to its live-gauge file."""
    path = folder / f"gauge_livesum_{pid}.db"
    if not path.exists():
        return 0.0
    return sum(
        value
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path))
        if json.loads(key)[0] == "ticker_subscribers"
    )


async def scrape(base: str) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{base}/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True
    )


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[TickerServer, Path]]:
    redis = RedisServer().start()
    cli(redis.url, "channel", "add", CHANNEL)
    temp = tmp_path / "tmp"  # where `ticker serve` makes its metrics folder
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k == "PROMETHEUS_MULTIPROC_DIR"}
    assert not env, "the test needs the default folder"
    ticker = TickerServer(redis.url, TICKER_WORKERS="2", TMPDIR=str(temp)).start()
    try:
        yield ticker, temp
    finally:
        ticker.stop()
        redis.kill()


@needs_promtool
async def test_a_killed_worker_leaves_true_metrics(
    two_workers: tuple[TickerServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ticker, temp = two_workers
    assert ticker.proc is not None
    [folder] = temp.glob("ticker-metrics-*")
    assert folder.name.startswith(f"ticker-metrics-{ticker.proc.pid}-")
    supervisor = ticker.proc.pid
    streams = [open_stream(ticker.base, {"channels": CHANNEL}) for _ in range(STREAMS)]
    opened = [await s.__aenter__() for s in streams]
    try:
        for s in opened:
            await s.next_of("reset", timeout=10)
        first = workers(supervisor)
        assert len(first) == 2, first

        async def all_counted() -> bool:
            return sum(streams_held(folder, pid) for pid in first) == STREAMS

        await eventually(all_counted, "every stream in a worker's gauge", 10)
        held = {pid: streams_held(folder, pid) for pid in first}
        victim = max(held, key=lambda pid: held[pid])
        assert held[victim] > 0

        os.kill(victim, signal.SIGKILL)

        async def restarted() -> bool:  # uvicorn notices the dead worker, starts another
            return len(workers(supervisor) - first) == 1

        await eventually(restarted, "a replacement worker", 30)
        [replacement] = workers(supervisor) - first
        survivor = (first - {victim}).pop()

        def open_now() -> int:
            return sum(not s.closed.is_set() for s in opened)

        async def victims_streams_ended() -> bool:
            return open_now() == STREAMS - held[victim]

        await eventually(victims_streams_ended, "the killed worker's streams ended", 10)

        async def subscribers() -> float:
            samples = (await scrape(ticker.base))[1]
            return samples.get(("ticker_subscribers", (("channel", CHANNEL),)), -1)

        async def truthful(extra: int = 0) -> bool:
            return await subscribers() == open_now() + extra

        await eventually(truthful, "ticker_subscribers equal to the open streams", 10)
        # Whichever worker answers, every scrape now tells the truth.
        for _ in range(6):
            assert await subscribers() == open_now() == STREAMS - held[victim]

        # The replacement serves new streams, and the total follows.
        async with open_stream(ticker.base, {"channels": CHANNEL}) as extra:
            await extra.next_of("reset", timeout=10)

            async def one_more() -> bool:
                return await truthful(1)

            await eventually(one_more, "the new stream counted", 10)

        text, samples = await scrape(ticker.base)
        for name in PROCESS_METRICS:
            pids = {dict(labels).get("pid") for (n, labels) in samples if n == name}
            assert pids == {str(survivor), str(replacement)}, (name, pids, victim)
        for pid in (survivor, replacement):
            assert samples[("process_resident_memory_bytes", (("pid", str(pid)),))] > 10**6
            assert samples[("process_open_fds", (("pid", str(pid)),))] > 3
        with capsys.disabled():
            shown = [
                line
                for line in text.splitlines()
                if line.startswith(("ticker_subscribers", "process_resident", "process_open_fds"))
            ]
            print(f"\nafter SIGKILL of worker {victim} ({held[victim]:.0f} of {STREAMS} streams):")
            print("\n".join(shown))
        lint = await asyncio.to_thread(promtool_check, text)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    finally:
        for manager in streams:
            await manager.__aexit__(None, None, None)

    ticker.stop()
    assert not folder.exists(), "the metrics folder outlived the service"
    assert list(temp.iterdir()) == []


def test_an_abandoned_metrics_folder_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A supervisor that was SIGKILLed could not remove its folder: the next start does."""
    import tempfile

    from ticker.multiprocess_metrics import prepare_folder

    gone = subprocess.Popen(["true"])
    gone.wait()
    abandoned = tmp_path / f"ticker-metrics-{gone.pid}-abcd"
    abandoned.mkdir()
    (abandoned / "counter_1.db").write_bytes(b"")
    live = tmp_path / f"ticker-metrics-{os.getpid()}-efgh"
    live.mkdir()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = prepare_folder()
    # prepare_folder sets the variable for the workers; monkeypatch restores it after.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    assert folder.parent == tmp_path
    assert folder.name.startswith(f"ticker-metrics-{os.getpid()}-")
    assert not abandoned.exists(), "the dead supervisor's folder stays"
    assert live.exists(), "a live process's folder was removed"


def test_an_operators_metrics_folder_is_emptied_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROMETHEUS_MULTIPROC_DIR set by the operator: old samples go (a new run must not sum
    them), the folder and anything else in it stay."""
    from ticker.multiprocess_metrics import prepare_folder

    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "gauge_livesum_123.db").write_bytes(b"")
    (folder / "README").write_text("ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    assert prepare_folder() == folder
    assert sorted(p.name for p in folder.iterdir()) == ["README"]
