"""Reading deploy/monitoring/: the PromQL of the dashboard and the alert rules, and the
metric names and label selectors in it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

MONITORING = Path(__file__).resolve().parent.parent / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
ALERTS = MONITORING / "alerts.yaml"

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"\b([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"')


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_queries(variables: dict[str, str] | None = None) -> list[str]:
    """Every panel query, with Grafana's variables replaced (by `variables`, if given)."""
    queries = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in (variables or {}).items():
                expr = expr.replace(name, value)
            queries.append(expr)
    return queries


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, keywords or labels)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges: [5m], [$__rate_interval]
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in re.finditer(r"\b[a-zA-Z_:][\w:]*\b(?!\s*\()", text):
        if match.group() not in _KEYWORDS:
            names.add(match.group())
    return names


def selector_labels(expr: str) -> set[tuple[str, str]]:
    """(metric, label) for every label matcher written on a metric: `m{a="x"}` → (m, a)."""
    found = set()
    for metric, matchers in _SELECTOR.findall(expr):
        for label in _MATCHER.findall(matchers):
            found.add((metric, label))
    return found
