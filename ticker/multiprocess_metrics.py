"""Metrics with several worker processes (`ticker serve --workers N`, N > 1).

prometheus-client's multiprocess mode has each worker write its samples to files in
one folder (`PROMETHEUS_MULTIPROC_DIR`), and `/metrics` sums them. Three things it
leaves to us, done here:

- A worker that dies (uvicorn's supervisor starts a new one) leaves its live gauges
  behind: `ticker_subscribers` would keep counting the streams it had. Every scrape
  first marks the workers that are gone as dead (`mark_process_dead`).
- The `process_*` metrics (memory, CPU, file descriptors) describe only the process
  that answers, so multiprocess mode drops them; here they come from /proc for every
  live worker, with a `pid` label.
- The folder is created for this run and removed when the service exits.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = ["prepare_folder", "reap_dead_workers", "registry", "worker_pids"]

ENV = "PROMETHEUS_MULTIPROC_DIR"
FOLDER_PREFIX = "ticker-metrics-"
_OWNED = re.compile(rf"^{FOLDER_PREFIX}(\d+)-")  # ticker-metrics-<supervisor pid>-<random>
_SAMPLE_FILE = re.compile(r"_(\d+)\.db$")  # counter_123.db, gauge_livesum_123.db, …


def prepare_folder() -> Path:
    """In the supervisor, before any worker starts: the folder the workers write to.

    A folder given in PROMETHEUS_MULTIPROC_DIR is the operator's: it is emptied of old
    samples and kept. Otherwise a fresh one is made in the temporary directory, named
    after this process, and removed at exit; folders that earlier runs could not remove
    (a SIGKILLed supervisor) are removed once their process is gone.
    """
    configured = os.environ.get(ENV)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return folder
    temp = Path(tempfile.gettempdir())
    _remove_abandoned(temp)
    folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=temp))
    os.environ[ENV] = str(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _remove_abandoned(temp: Path) -> None:
    for folder in temp.glob(f"{FOLDER_PREFIX}*"):
        owned = _OWNED.match(folder.name)
        if owned and folder.is_dir() and not _alive(int(owned.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _parent(pid: int) -> int | None:
    """The parent pid from /proc/<pid>/stat, None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # "pid (comm) state ppid …": comm may hold spaces or parentheses, so split after the last ")".
    fields = stat.rsplit(b")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 else None


def _children(parent: int) -> set[int]:
    """The pids whose parent is `parent`, from /proc: its `children` files where the kernel
    has them (CONFIG_PROC_CHILDREN), else a scan of every process (a few ms per hundred)."""
    try:
        listed = [
            (task / "children").read_text() for task in Path(f"/proc/{parent}/task").iterdir()
        ]
    except OSError:
        pass
    else:
        return {int(pid) for text in listed for pid in text.split()}
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == parent:
            found.add(int(entry.name))
    return found


def live_workers() -> set[int]:
    """This process and the other workers of our supervisor: its children that
    multiprocessing spawned (uvicorn starts every worker so). Checking the parent keeps a
    pid reused by an unrelated process from counting as a worker."""
    workers = {os.getpid()}
    for pid in _children(os.getppid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            workers.add(pid)
    return workers


def worker_pids(folder: Path) -> set[int]:
    """Every pid that wrote samples to the folder, live or not."""
    pids = set()
    for path in folder.glob("*.db"):
        found = _SAMPLE_FILE.search(path.name)
        if found:
            pids.add(int(found.group(1)))
    return pids


def reap_dead_workers(folder: Path, live: set[int]) -> list[int]:
    """Mark every worker that wrote to the folder and is not in `live` as dead: its live
    gauges go, its counters and histograms stay (what it counted did happen)."""
    dead = sorted(worker_pids(folder) - live)
    for pid in dead:
        mark_process_dead(pid, str(folder))
    return dead


class WorkerProcessCollector(Collector):
    """`process_*` metrics (as prometheus-client's ProcessCollector) for each of the given
    workers, labelled `pid`."""

    def __init__(self, workers: set[int]) -> None:
        self.workers = workers
        self._pid = 0
        self._one = ProcessCollector(pid=lambda: self._pid, registry=None)

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for pid in sorted(self.workers):
            self._pid = pid
            for family in self._one.collect():
                target = merged.get(family.name)
                if target is None:
                    kind = CounterMetricFamily if family.type == "counter" else GaugeMetricFamily
                    target = merged[family.name] = kind(
                        family.name, family.documentation, labels=["pid"]
                    )
                for sample in family.samples:
                    target.add_metric([str(pid)], sample.value)
        return list(merged.values())


def registry(folder: Path) -> CollectorRegistry:
    """What `/metrics` reports with several workers: their samples summed (dead workers'
    live gauges left out), and each live worker's process metrics."""
    live = live_workers()
    reap_dead_workers(folder, live)
    found = CollectorRegistry()
    MultiProcessCollector(found, path=str(folder))
    found.register(WorkerProcessCollector(live))
    return found
