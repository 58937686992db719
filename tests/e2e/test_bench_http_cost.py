"""The in-process HTTP cost tool (``benchmarks/http_cost.py``) against the real broker it
starts: every path answers every request 200, and the report's figures are the differences
and ratios of what it measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_the_three_paths_are_measured_and_the_layers_told_apart(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    # A process of its own: the tool pins itself, changes its scheduling and freezes its heap.
    command = [sys.executable, "-m", "benchmarks.http_cost", "--readings", "3",
               "--requests", "200", "--rounds", "2", "--json", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stderr[-2000:]

    result = json.loads(out.read_text(encoding="utf-8"))
    assert (result["readings_per_request"], result["requests_per_round"]) == (3, 200)
    paths = result["us_per_request"]
    sluice, floor, app = (
        paths[name]["rounds"] for name in ("sluice", "floor", "sluice app, floor behind")
    )
    assert len(sluice) == len(floor) == len(app) == 2
    assert all(cost > 0 for cost in sluice + floor + app)
    for index in range(2):
        assert result["floor_over_sluice"]["rounds"][index] == pytest.approx(
            floor[index] / sluice[index], abs=0.002
        )
        assert result["http_layer_extra_us"]["rounds"][index] == pytest.approx(
            app[index] - floor[index], abs=0.2
        )
        assert result["pipeline_extra_us"]["rounds"][index] == pytest.approx(
            sluice[index] - app[index], abs=0.2
        )


def test_a_request_count_below_one_is_refused() -> None:
    command = [sys.executable, "-m", "benchmarks.http_cost", "--requests", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--readings, --requests and --rounds must be at least 1" in done.stderr
