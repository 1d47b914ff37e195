"""The operator files of deploy/monitoring/: the Grafana dashboard and the
Prometheus alert rules load in their tools and read only metrics the app exports, with
labels those metrics have."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from tests.monitoring_support import (
    ALERTS,
    MONITORING,
    alert_rules,
    dashboard,
    dashboard_queries,
    metric_names,
    selector_labels,
)
from tests.support import TickerServer, free_port, open_stream
from ticker import metrics

ROOT = MONITORING.parent.parent
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
FROM_PROMETHEUS = {"up"}  # series Prometheus makes itself, not the app
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
GRAFANA = {"$__rate_interval": "1m", "$instance": ".*"}


def exported_names(text: str) -> set[str]:
    """Every series name /metrics can carry, including those of labelled metrics that have
    no child yet (their families are declared, with no samples)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def declared_labels() -> dict[str, set[str]]:
    """Label names of each series of ticker/metrics.py (histograms also have `le`)."""
    found: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram):
            labels = set(value._labelnames)
            name = value._name
            if isinstance(value, Counter):
                found[name + "_total"] = labels
            elif isinstance(value, Histogram):
                found[name + "_bucket"] = labels | {"le"}
                found[name + "_sum"] = found[name + "_count"] = labels
            else:
                found[name] = labels
    return found


def every_query() -> dict[str, str]:
    """Where each query comes from: its expression."""
    queries = {f"dashboard query {n}": q for n, q in enumerate(dashboard_queries())}
    queries.update({f"alert {rule['alert']}": rule["expr"] for rule in alert_rules()})
    return queries


def test_dashboard_is_a_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    graphs = [panel for panel in board["panels"] if panel["type"] != "row"]
    assert len(graphs) >= 12
    for panel in graphs:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    # Panels do not overlap on Grafana's 24-column grid.
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        area = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_rules_and_runbook_agree() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    headings = {line[4:].strip() for line in runbook.splitlines() if line.startswith("### ")}
    for rule in alert_rules():
        name = rule["alert"]
        assert name in headings, f"docs/runbook.md has no section for {name}"
        assert rule["annotations"]["runbook"] == f"docs/runbook.md#{name.lower()}"
        assert rule["labels"]["severity"] in {"page", "warning"}
        assert rule["annotations"]["summary"]
    assert {rule["alert"] for rule in alert_rules()} == headings, "runbook sections without alerts"


def test_queries_read_only_metrics_the_app_exports(server: TickerServer) -> None:
    text = httpx.get(f"{server.base}/metrics").text
    exported = exported_names(text) | FROM_PROMETHEUS
    declared = declared_labels()
    for name, labels in declared.items():
        # Prometheus would rename such a label to exported_job/exported_instance.
        assert not labels & TARGET_LABELS, f"{name} has a label Prometheus sets itself"
    for where, expr in every_query().items():
        names = metric_names(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        unknown = names - exported
        assert not unknown, f"{where} reads {sorted(unknown)}, which /metrics does not export"
        for metric, label in selector_labels(expr):
            allowed = TARGET_LABELS | declared.get(metric, set())
            if metric.startswith("process_"):
                allowed = allowed | {"pid"}  # per worker with --workers N
            assert label in allowed, f"{where}: {metric} has no label {label!r}"
    # The unit tests of the rules feed series with real names too.
    tests = yaml.safe_load((MONITORING / "alerts.test.yaml").read_text(encoding="utf-8"))
    for case in tests["tests"]:
        for series in case["input_series"]:
            name = series["series"].split("{")[0]
            assert name in exported, f"alerts.test.yaml ({case['name']}) invents {name}"


def test_metric_name_extraction() -> None:
    """The PromQL reader the checks above rely on."""
    expr = (
        'histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{job="x", le!="1"}[5m])))'
        ' > 2 and sum(b offset 1h) / scalar(count(c{d=~"$instance"})) or absent(up == 1)'
    )
    assert metric_names(expr) == {"a_bucket", "b", "c", "up"}
    assert selector_labels(expr) == {("a_bucket", "job"), ("a_bucket", "le"), ("c", "d")}


needs_promtool = pytest.mark.skipif(
    not Path(PROMTOOL).exists(), reason="promtool is missing: apt-get install prometheus"
)


@needs_promtool
def test_check_monitoring_script() -> None:
    result = subprocess.run(
        [str(ROOT / ".ci" / "check-monitoring"), "--strict"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 14 rules found" in result.stdout
    assert "all monitoring files are valid" in result.stdout


@needs_promtool
def test_promtool_accepts_the_metrics(server: TickerServer) -> None:
    """`promtool check metrics`: the exposition format and naming conventions (the
    several-workers output is checked in tests/test_metrics_workers.py)."""
    text = httpx.get(f"{server.base}/metrics").text
    lint = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.fixture
def prometheus(server: TickerServer, tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus scraping the test server every second, with alerts.yaml loaded."""
    if not Path(PROMETHEUS).exists():
        pytest.skip("prometheus is missing: apt-get install prometheus")
    shutil.copyfile(ALERTS, tmp_path / "alerts.yaml")
    target = server.base.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yaml"],
        "scrape_configs": [{"job_name": "ticker", "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_prometheus_loads_the_rules_and_answers_the_dashboard(
    server: TickerServer, prometheus: str, channel: str
) -> None:
    async with (
        open_stream(server.base, {"channels": channel}) as stream,
        httpx.AsyncClient(base_url=prometheus, timeout=5) as client,
    ):
        await stream.next_of("reset")

        async def query(expr: str) -> list[dict]:
            r = await client.get("/api/v1/query", params={"query": expr})
            body = r.json()
            assert r.status_code == 200 and body["status"] == "success", (expr, body)
            return body["data"]["result"]

        async def wait_for(expr: str, timeout: float = 30) -> list[dict]:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    found = await query(expr)
                except httpx.TransportError:  # Prometheus still starting
                    found = []
                if found:
                    return found
                assert time.monotonic() < deadline, f"no result for {expr} within {timeout} s"
                await asyncio.sleep(0.2)

        [up] = await wait_for('up{job="ticker"} == 1')
        assert up["metric"]["instance"] == server.base.removeprefix("http://")
        # Enough samples for rate() over the dashboard's window, and the stream counted.
        await wait_for(f'count_over_time(ticker_subscribers{{channel="{channel}"}}[1m]) >= 3')

        deadline = time.monotonic() + 30
        while True:
            groups = (await client.get("/api/v1/rules")).json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            if rules and all(rule["health"] == "ok" for rule in rules):
                break
            assert time.monotonic() < deadline, [
                (r["name"], r["health"], r.get("lastError")) for r in rules
            ]
            await asyncio.sleep(0.2)
        assert len(rules) == len(alert_rules())
        firing = [r["name"] for r in rules if r["state"] == "firing"]
        assert firing == [], f"a healthy service fires {firing}"

        empty = []
        for expr in dashboard_queries(GRAFANA):
            if not await query(expr):
                empty.append(expr)
        # Some panels are empty on a quiet service (no errors, no drops, no API traffic of a
        # kind); the ones an operator looks at first are not.
        for must in ("sum(up{", "sum(ticker_subscribers{", "process_resident_memory_bytes{"):
            assert not [e for e in empty if e.startswith(must)], (must, empty)
