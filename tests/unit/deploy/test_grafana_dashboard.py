"""The Grafana dashboard: well formed, on a data source variable, and reading only metrics
Sluice exports. (tests/e2e/test_observability_prometheus.py runs its queries for real.)"""

from __future__ import annotations

import json
from typing import Any

from observability_names import DASHBOARD, exported_series_names, metric_names_in

# What the issue asks the dashboard to cover, as metric names its panels must read.
COVERED_METRICS = {
    "throughput": "sluice_readings_accepted_total",
    "rejections by reason": "sluice_readings_rejected_total",
    "Ack latency": "sluice_ack_latency_seconds_bucket",
    "queue depth": "sluice_queue_readings",
    "spool depth": "sluice_spool_bytes",
    "streams": "sluice_active_streams",
    "rate limiting": "sluice_rate_limited_total",
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels() -> list[dict[str, Any]]:
    """Every panel, rows flattened."""
    found: list[dict[str, Any]] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for panel in items:
            found.append(panel)
            walk(panel.get("panels", []))

    walk(dashboard()["panels"])
    return found


def expressions() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel.get("targets", [])]


def test_panels_have_unique_ids_and_titles() -> None:
    ids = [panel["id"] for panel in panels()]
    titles = [panel["title"] for panel in panels()]
    assert len(ids) == len(set(ids))
    assert len(titles) == len(set(titles))


def test_panels_do_not_overlap_on_the_grid() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in panels():
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_every_query_uses_the_data_source_variable_and_the_filters() -> None:
    variables = {v["name"] for v in dashboard()["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables
    for panel in panels():
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert 'job=~"$job"' in target["expr"], panel["title"]
            assert 'instance=~"$instance"' in target["expr"], panel["title"]


def test_every_metric_a_panel_reads_is_exported() -> None:
    exported = exported_series_names()
    unknown = {name for expr in expressions() for name in metric_names_in(expr)} - exported
    assert not unknown, f"the dashboard reads metrics Sluice does not export: {unknown}"


def test_the_dashboard_covers_what_operators_watch() -> None:
    read = {name for expr in expressions() for name in metric_names_in(expr)}
    missing = {topic: name for topic, name in COVERED_METRICS.items() if name not in read}
    assert not missing


def test_it_shows_the_gateway_alone_though_every_component_reports_readiness() -> None:
    # sluice_ready comes from the roll-up and the query API too: the job and pod variables,
    # and the readiness panels, must not count their pods as gateways.
    gateway = exported_series_names("gateway")
    downstream = exported_series_names("rollup") | exported_series_names("query")
    variables = [v["definition"] for v in dashboard()["templating"]["list"] if v["type"] == "query"]
    reads_readiness = [q for q in [*variables, *expressions()] if "sluice_ready" in q]
    assert reads_readiness
    for query in reads_readiness:
        assert 'sluice_ready{component="gateway"' in query, query
    for expr in expressions():
        assert metric_names_in(expr) <= gateway - (downstream - {"sluice_ready"}), expr
