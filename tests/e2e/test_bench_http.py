"""The HTTP scenarios, scaled down: h2load posts JSON bodies to Sluice's HTTP ingest and to the
HTTP floor, both producing to a real broker, and the run reports what h2load's per-request
log says of the measured window."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.scenarios import Bench, Load, Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.mark.parametrize("server", ["sluice", "http_floor"])
@pytest.mark.parametrize("readings", [1, 100])
def test_h2load_posts_are_answered_and_counted_in_the_window(
    server: str, readings: int, tmp_path: Path
) -> None:
    if shutil.which("h2load") is None:
        pytest.fail("h2load is not installed: Debian nghttp2-client (make test installs it)")
    scenario = Scenario(
        "http", f"{readings} per request", server, batch_size=readings, load=Load(1, 4, 1),
        protocol="http", warmup_s=1.0, duration_s=2.0,
    )  # fmt: skip
    result = Bench(tmp_path).run(scenario)

    assert result["error_count"] == 0, result["errors"]
    assert set(result["statuses"]) == {"HTTP 200"}
    answered = result["statuses"]["HTTP 200"]
    assert answered > 0
    assert result["readings_per_s"] == pytest.approx(answered * readings / 2.0, rel=0.01)
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert result["cpu_s"] > 0


def test_a_held_rate_is_sent_as_asked(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    scenario = Scenario(
        "http_held", "held", "http_floor", batch_size=1, load=Load(1, 4, 1), protocol="http",
        warmup_s=1.0, duration_s=3.0, rate=200.0,
    )  # fmt: skip
    result = bench.run(scenario)

    assert result["batches_per_s"] == pytest.approx(200, rel=0.2)
