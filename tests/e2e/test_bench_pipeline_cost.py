"""The in-process pipeline cost tool (``benchmarks/pipeline_cost.py``) against the real broker
it starts: both paths answer every batch, and the report divides the figures it measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_both_paths_are_measured_over_every_round(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    # A process of its own: the tool pins itself, changes its scheduling and freezes its heap.
    command = [sys.executable, "-m", "benchmarks.pipeline_cost", "--workload", "rich",
               "--readings", "1", "--batches", "300", "--rounds", "2",
               "--json", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stderr[-2000:]

    result = json.loads(out.read_text(encoding="utf-8"))
    assert (result["workload"], result["batches_per_round"]) == ("rich", 300)
    assert result["readings_per_batch"] == 1
    sluice, floor = (result["us_per_batch"][path]["rounds"] for path in ("sluice", "floor"))
    assert len(sluice) == len(floor) == 2
    assert all(cost > 0 for cost in sluice + floor)
    ratios = result["cost_sluice_over_floor"]["rounds"]
    for ratio, mine, theirs in zip(ratios, sluice, floor, strict=True):
        assert ratio == pytest.approx(mine / theirs, rel=0.01)


def test_a_round_count_below_one_is_refused() -> None:
    command = [sys.executable, "-m", "benchmarks.pipeline_cost", "--rounds", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--readings, --batches and --rounds must be at least 1" in done.stderr


def test_each_ablation_runs_and_its_cost_is_the_difference_from_the_full_path(
    tmp_path: Path,
) -> None:
    out = tmp_path / "ablate.json"
    command = [sys.executable, "-m", "benchmarks.pipeline_cost", "--batches", "200",
               "--rounds", "2", "--ablate", "all", "--json", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stderr[-2000:]

    result = json.loads(out.read_text(encoding="utf-8"))
    features = ["metrics", "dedup", "budget", "buckets", "spool", "all"]
    assert sorted(result["feature_us_per_batch"]) == sorted(features)
    for name in features:
        ablation = result["ablations"][name]
        full, without = ablation["sluice"]["rounds"], ablation["without"]["rounds"]
        costs = result["feature_us_per_batch"][name]["rounds"]
        assert len(costs) == 2
        for cost, whole, rest in zip(costs, full, without, strict=True):
            assert cost == pytest.approx(whole - rest, abs=0.2)


def test_an_unknown_feature_is_refused() -> None:
    command = [sys.executable, "-m", "benchmarks.pipeline_cost", "--ablate", "metrics,gc"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "unknown features ['gc']" in done.stderr
