"""The locustfile, run headless for a few seconds against a real ``sluice serve``: both of its
tasks make requests, and none fails."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.embedded.broker import TansuBroker
from tests.support.servers import SluiceServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

LOCUSTFILE = Path(__file__).parents[2] / "benchmarks" / "locustfile.py"
LOCUST = Path(sys.executable).parent / "locust"


@pytest.fixture(scope="module")
def server(tansu: TansuBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceServer]:
    config = {"kafka": {"bootstrap_servers": tansu.bootstrap}, "logging": {"level": "WARNING"}}
    with SluiceServer(config, tmp_path_factory.mktemp("locust")) as running:
        yield running


def test_a_headless_locust_run_has_requests_and_no_failures(
    server: SluiceServer, tmp_path: Path
) -> None:
    prefix = tmp_path / "run"
    command = [str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "-u", "6", "-r", "6",
               "-t", "4s", "--stop-timeout", "10", "--host", server.target,
               "--csv", str(prefix), "--only-summary"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with (tmp_path / "run_stats.csv").open(encoding="utf-8") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    for name in ("Ingest.Stream", "Ingest.Push"):
        assert int(rows[name]["Request Count"]) > 0, rows
        assert int(rows[name]["Failure Count"]) == 0, rows
    assert int(rows["Aggregated"]["Failure Count"]) == 0
