"""A fleet-shaped scenario, scaled down: many held-rate streams, each on a connection of its
own, against a real server; the run reports the server's idle and loaded memory per stream
and the errors of the streams."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.scenarios import Bench, Load, Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

STREAMS = Load(processes=2, streams=20, window=2)


@pytest.mark.parametrize("server", ["sluice", "transport"])
def test_a_small_fleet_reports_memory_per_stream_and_no_errors(server: str, tmp_path: Path) -> None:
    scenario = Scenario(
        "mini_fleet", "40 streams", server, batch_size=10, load=STREAMS, rate=4000.0,
        warmup_s=1.0, duration_s=3.0, once=True,
    )  # fmt: skip
    result = Bench(tmp_path).run(scenario)

    assert result["streams"] == 40
    assert result["error_count"] == 0, result["errors"]
    assert set(result["statuses"]) <= {"ACK_STATUS_OK", "ACK_STATUS_PARTIAL"}
    # 40 streams at 4,000 readings/s in all: each sends a 10-reading batch every 0.1 s.
    assert result["batches_per_s"] == pytest.approx(400, rel=0.5)
    assert 0 < result["idle_rss_mb"] <= result["rss_mb"]
    expected = (result["rss_mb"] - result["idle_rss_mb"]) * 1024 / 40
    assert result["rss_per_stream_kb"] == pytest.approx(expected, abs=5.0)  # MB rounded to 0.1
