"""Each process kind exports only its own families, and all three their readiness."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from sluice.downstream.query.metrics import QueryMetrics
from sluice.downstream.rollup.metrics import RollupMetrics
from sluice.ops.metrics import Metrics

GATEWAY_ONLY = {
    "sluice_broker_up",
    "sluice_breaker_opened",
    "sluice_spool_bytes",
    "sluice_spool_max_bytes",
    "sluice_spool_segments",
    "sluice_queue_readings",
    "sluice_queue_bytes",
    "sluice_active_streams",
    "sluice_readings_received",
    "sluice_records_produced",
    "sluice_gc_pause_seconds",
}
"""Families that mean something only where there is a producer, a spool or an ingest path."""


def families(kind: Callable[[CollectorRegistry], object]) -> set[str]:
    registry = CollectorRegistry()
    kind(registry)
    return {family.name for family in registry.collect()}


def test_the_gateway_exports_its_kafka_spool_and_queue_families_and_nothing_downstream() -> None:
    exported = families(Metrics)
    assert exported >= GATEWAY_ONLY | {"sluice_ready"}
    assert not {name for name in exported if name.startswith(("sluice_rollup", "sluice_query"))}


@pytest.mark.parametrize(
    ("kind", "prefix"), [(RollupMetrics, "sluice_rollup_"), (QueryMetrics, "sluice_query_")]
)
def test_the_rollup_and_the_query_export_their_own_families_and_readiness_only(
    kind: Callable[[CollectorRegistry], object], prefix: str
) -> None:
    exported = families(kind)
    assert not exported & GATEWAY_ONLY
    assert {name for name in exported if not name.startswith(prefix)} == {"sluice_ready"}
    assert len(exported) > 1


@pytest.mark.parametrize(
    ("kind", "component"),
    [(Metrics, "gateway"), (RollupMetrics, "rollup"), (QueryMetrics, "query")],
)
def test_each_kind_reports_its_readiness_under_its_component(
    kind: Callable[[CollectorRegistry], Metrics | RollupMetrics | QueryMetrics], component: str
) -> None:
    registry = CollectorRegistry()
    metrics = kind(registry)
    assert registry.get_sample_value("sluice_ready", {"component": component}) == 0
    metrics.ready.set(1)
    assert registry.get_sample_value("sluice_ready", {"component": component}) == 1


def test_one_process_hosting_all_three_exports_one_readiness_series_each() -> None:
    # sluice dev: the gateway, the roll-up and the query API on one registry.
    registry = CollectorRegistry()
    gateway, rollup, query = Metrics(registry), RollupMetrics(registry), QueryMetrics(registry)
    gateway.ready.set(1)
    query.ready.set(1)
    rollup.records.labels("applied").inc(3)

    def ready(component: str) -> float | None:
        return registry.get_sample_value("sluice_ready", {"component": component})

    assert (ready("gateway"), ready("rollup"), ready("query")) == (1, 0, 1)
    assert registry.get_sample_value("sluice_rollup_records_total", {"outcome": "applied"}) == 3


def test_the_rollup_counts_every_outcome_from_the_start() -> None:
    registry = CollectorRegistry()
    RollupMetrics(registry)
    for outcome in ("applied", "duplicate", "undecodable"):
        assert registry.get_sample_value("sluice_rollup_records_total", {"outcome": outcome}) == 0


def test_the_query_metrics_refuse_a_registry_that_already_holds_them() -> None:
    registry = CollectorRegistry()
    QueryMetrics(registry)
    with pytest.raises(ValueError, match="already holds the query API's request metrics"):
        QueryMetrics(registry)
