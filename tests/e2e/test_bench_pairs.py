"""The 1-worker against 2-worker pairs, scaled down: both servers hold the same rate, and the
2-worker run says how its CPU split and how the 16 connections spread over its workers. The
floor runs the same pairs as one process and as two serving one port."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import pairs
from benchmarks.scenarios import Bench

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def one_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    bench = Bench(tmp_path_factory.mktemp("pairs"), duration_s=2.0, warmup_s=1.0)
    return pairs.measure(bench, rate=5000.0, pairs=1)


def test_a_pair_reports_its_ratio_and_the_two_worker_split(one_pair: dict[str, Any]) -> None:
    result = one_pair
    assert result["pairs"] == 1
    assert result["errors"] == []
    assert result["ratio"] == pytest.approx(
        result["two_cpu_s_per_million"] / result["one_cpu_s_per_million"], rel=0.01
    )
    (spread,) = result["connections_per_worker"]
    assert len(spread) == 2
    assert sum(spread) == 16  # every load connection is held by one worker or the other
    assert result["supervisor_cpu_s_per_million"] >= 0
    assert {"main", "librdkafka"} <= set(result["by_thread"])


def test_the_floor_runs_the_same_pairs_over_two_processes(one_pair: dict[str, Any]) -> None:
    floor = one_pair["floor"]
    assert floor["ratio"] == pytest.approx(
        floor["two_cpu_s_per_million"] / floor["one_cpu_s_per_million"], rel=0.01
    )
    (spread,) = floor["connections_per_process"]
    assert len(spread) == 2  # two floor processes under the one that started them
    assert sum(spread) == 16
    assert one_pair["over_floor"] == pytest.approx(one_pair["ratio"] / floor["ratio"], rel=0.01)
