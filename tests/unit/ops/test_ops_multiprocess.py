"""/metrics sums the workers' values from PROMETHEUS_MULTIPROC_DIR, and forgets dead ones."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from sluice.ops.app import MULTIPROC_DIR_ENV, build_ops_app
from sluice.ops.server import OpsServer

Spawn = Callable[..., subprocess.Popen[str]]

# A worker: counts readings, holds streams open (a livesum gauge), prints its pid and exits.
WORKER = """
import os, sys
from prometheus_client import CollectorRegistry
from sluice.ops.metrics import Metrics
metrics = Metrics(CollectorRegistry())
metrics.readings_received.inc(int(sys.argv[1]))
metrics.active_streams.set(int(sys.argv[2]))
print(os.getpid())
"""


def samples(text: str) -> dict[str, float]:
    """Every unlabelled sample of a Prometheus text exposition, by name."""
    return {
        each.name: float(each.value)
        for family in text_string_to_metric_families(text)
        for each in family.samples
        if not each.labels
    }


def run_worker(spawn: Spawn, metrics_dir: Path, readings: int, streams: int) -> int:
    process = spawn(WORKER, str(readings), str(streams), env=worker_env(metrics_dir))
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return int(stdout)


def worker_env(metrics_dir: Path) -> dict[str, str]:
    return {**os.environ, MULTIPROC_DIR_ENV: str(metrics_dir)}


async def scrape() -> dict[str, float]:
    server = OpsServer("127.0.0.1:0", build_ops_app(CollectorRegistry(), lambda: True))
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        await server.shutdown()
    assert response.status_code == 200
    return samples(response.text)


async def test_metrics_are_summed_over_processes_and_dead_gauges_drop(
    spawn: Spawn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    first = run_worker(spawn, metrics_dir, readings=100, streams=3)
    run_worker(spawn, metrics_dir, readings=250, streams=4)
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(metrics_dir))

    both = await scrape()
    mark_process_dead(first, str(metrics_dir))  # type: ignore[no-untyped-call]
    after_first_died = await scrape()

    assert both["sluice_readings_received_total"] == 350
    assert both["sluice_active_streams"] == 7
    assert after_first_died["sluice_readings_received_total"] == 350
    assert after_first_died["sluice_active_streams"] == 4


async def test_without_the_env_var_only_the_given_registry_is_shown(
    spawn: Spawn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    run_worker(spawn, metrics_dir, readings=100, streams=3)
    monkeypatch.delenv(MULTIPROC_DIR_ENV, raising=False)

    shown = await scrape()

    assert "sluice_readings_received_total" not in shown
