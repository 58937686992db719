"""What the alert rules and the dashboard may refer to: the metric names Sluice exports."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from sluice.ops.metrics import Metrics

REPO = Path(__file__).resolve().parents[3]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = REPO / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "sluice.json"
OPERATIONS_GUIDE = REPO / "docs" / "operations.md"

_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


def exported_series_names() -> set[str]:
    """The name of every series ``Metrics`` exposes, with Prometheus's type suffixes."""
    registry = CollectorRegistry()
    Metrics(registry)
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in _SUFFIXES.get(family.type, ("",))
    }


def metric_names_in(expr: str) -> set[str]:
    """The ``sluice_*`` names an expression refers to."""
    return set(re.findall(r"\bsluice_[a-z0-9_]+", expr))
