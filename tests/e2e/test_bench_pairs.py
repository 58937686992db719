"""The 1-worker against 2-worker pairs, scaled down: both servers hold the same rate, and the
2-worker run says how its CPU split and how the 16 connections spread over its workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import pairs
from benchmarks.scenarios import Bench

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_a_pair_reports_its_ratio_and_the_two_worker_split(tmp_path: Path) -> None:
    result = pairs.measure(Bench(tmp_path, duration_s=2.0, warmup_s=1.0), rate=5000.0, pairs=1)

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
