"""What the alert rules and the dashboard may refer to: the metric names Sluice exports."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from sluice.downstream.query.metrics import QueryMetrics
from sluice.downstream.rollup.metrics import RollupMetrics
from sluice.ops.metrics import Metrics

REPO = Path(__file__).resolve().parents[3]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = REPO / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "sluice.json"
OPERATIONS_GUIDE = REPO / "docs" / "operations.md"

_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count"),
    "gauge": ("",),
}
PROCESS_KINDS: dict[str, Callable[[CollectorRegistry], object]] = {
    "gateway": Metrics,
    "rollup": RollupMetrics,
    "query": QueryMetrics,
}
"""What each process kind declares on its registry: the gateway worker, ``sluice rollup``
and ``sluice query``."""
CHART_JOBS = {
    "gateway": "sluice-metrics",
    "rollup": "sluice-rollup-metrics",
    "query": "sluice-query-metrics",
}
"""The scrape job of each component under the chart's ServiceMonitors (release "sluice"):
the operator names a job after the Service a ServiceMonitor selects."""


def exported_series_names(*kinds: str) -> set[str]:
    """The name of every series ``kinds`` expose (all three by default), with Prometheus's
    type suffixes."""
    names: set[str] = set()
    for kind in kinds or PROCESS_KINDS:
        registry = CollectorRegistry()
        PROCESS_KINDS[kind](registry)
        names |= {
            family.name + suffix
            for family in registry.collect()
            for suffix in _SUFFIXES.get(family.type, ("",))
        }
    return names


def metric_names_in(expr: str) -> set[str]:
    """The ``sluice_*`` names an expression refers to."""
    return set(re.findall(r"\bsluice_[a-z0-9_]+", expr))
