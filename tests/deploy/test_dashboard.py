"""The Grafana dashboard queries only metrics and labels trimwire exports: names from a live
metrics registry, label names from docs/metrics.md. It is shipped in the chart as a ConfigMap.
"""

from __future__ import annotations

import json
import re
from typing import Any

from extproc.metrics import Metrics

from .chart import CHART_DIR, REPO_ROOT

DASHBOARD = CHART_DIR / "files" / "grafana-dashboard.json"
# Added by Prometheus to every scraped series, not by trimwire.
TARGET_LABELS = {"namespace"}
SUFFIXES = {"counter": {"_total"}, "histogram": {"_bucket", "_sum", "_count"}, "gauge": {""}}


def expressions() -> list[tuple[str, str]]:
    """(expr, legendFormat) of every panel target."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [(t["expr"], t.get("legendFormat", "")) for p in dashboard["panels"] for t in p["targets"]]


def documented_labels() -> dict[str, set[str]]:
    """metric family -> label names, from the table in docs/metrics.md."""
    labels = {}
    for line in (REPO_ROOT / "docs" / "metrics.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`trimwire_"):
            continue
        column = cells[1]
        while re.search(r"\([^()]*\)", column):  # drop value lists like (`before`, `after`)
            column = re.sub(r"\([^()]*\)", "", column)
        labels[re.sub(r"_total$", "", cells[0].strip("`"))] = set(re.findall(r"`([a-z_]+)`", column))
    return labels


def exported_families() -> dict[str, str]:
    """metric family -> type, from a fresh trimwire metrics registry."""
    return {family.name: family.type for family in Metrics().registry.collect()}


def family_of(series: str, families: dict[str, str]) -> str | None:
    """The exported family a series name belongs to (``trimwire_x_total`` -> ``trimwire_x``)."""
    return next((f for f, kind in families.items() for suffix in SUFFIXES[kind] if series == f + suffix), None)


def queried(expr: str) -> list[str]:
    return re.findall(r"\btrimwire_[a-z_]+", expr)


def test_queries_use_exported_metric_names() -> None:
    """Every series a panel queries exists in trimwire's registry, with its type's suffix."""
    families = exported_families()
    used = set()
    for expr, _ in expressions():
        for series in queried(expr):
            family = family_of(series, families)
            assert family, f"{series} is not exported by trimwire"
            used.add(family)
    assert {"trimwire_requests", "trimwire_tokens_saved", "trimwire_stage_seconds", "trimwire_failed_open"} <= used


def test_grouping_labels_exist_on_their_metrics() -> None:
    """Labels in by (...) clauses and legends are labels of the metrics queried."""
    families, labels = exported_families(), documented_labels()
    for expr, legend in expressions():
        series = {family_of(s, families) for s in queried(expr)}
        assert series <= set(labels), f"{expr}: metric not in docs/metrics.md"
        allowed = set().union(*(labels[s] for s in series)) | {"le"} | TARGET_LABELS
        grouped = {label.strip() for clause in re.findall(r"by \(([^)]*)\)", expr) for label in clause.split(",")}
        assert grouped <= allowed, expr
        assert set(re.findall(r"\{\{(\w+)\}\}", legend)) <= allowed, legend


def test_dashboard_has_the_operator_panels() -> None:
    """Requests, outcomes, savings per user and model, ratio, latency per stage and fail-open reasons."""
    titles = " | ".join(p["title"] for p in json.loads(DASHBOARD.read_text())["panels"])
    for wanted in ("Requests by outcome", "Tokens saved by model", "Tokens saved by user", "Token ratio",
                   "Stage latency p95", "Request latency", "Failed open by reason", "Passthrough by reason"):
        assert wanted in titles


def test_dashboard_configmap_carries_the_file(render: Any) -> None:
    """With grafanaDashboard.enabled the chart renders the JSON file into a labelled ConfigMap."""
    [dashboard] = [cm for cm in render("istio").all("ConfigMap") if "trimwire.json" in cm["data"]]
    assert json.loads(dashboard["data"]["trimwire.json"]) == json.loads(DASHBOARD.read_text())
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
