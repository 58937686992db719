"""``sluice replay`` end to end: generated logs with malformed lines, a real server and broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from sluice.v1.ingest_pb2 import ReadingBatch
from tests.support.brokers import consume_records
from tests.support.logsamples import access_log, etl_log
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def topic() -> str:
    return f"replay-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def server(tansu: Any, tmp_path_factory: pytest.TempPathFactory, topic: str) -> Any:
    config = {"kafka": {"bootstrap_servers": tansu.bootstrap, "topic": topic}}
    with SluiceServer(config, tmp_path_factory.mktemp("replay")) as srv:
        yield srv


def replay_command(server: SluiceServer, *args: str | Path) -> list[str]:
    return [sys.executable, "-m", "sluice", "replay", *map(str, args), "--target", server.target]


def readings_by_metric(bootstrap: str, topic: str, minimum: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in consume_records(bootstrap, topic, min_records=minimum):
        for reading in ReadingBatch.FromString(record.value()).readings:
            counts[reading.metric] = counts.get(reading.metric, 0) + 1
    return counts


def test_an_access_log_is_replayed_and_its_malformed_lines_reported(
    server: SluiceServer, tansu: Any, topic: str, tmp_path: Path
) -> None:
    sample = access_log(500)
    path = tmp_path / "access.log"
    path.write_text(sample.text)
    done = subprocess.run(
        replay_command(server, "access", path, "--host", "web-1", "--batch-size", "100"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    summary = done.stdout
    assert f"{sample.good:,} readings sent, {sample.good:,} accepted, 0 rejected" in summary
    assert f"{sample.malformed_total:,} malformed lines" in summary
    assert "malformed: format=3, request_time=1, time=1" in summary
    assert summary.count("  line ") == 5
    counts = readings_by_metric(tansu.bootstrap, topic, minimum=5)
    assert counts.get("http.request") == sample.good


def test_an_etl_log_is_followed_until_sigterm(
    server: SluiceServer, tansu: Any, topic: str, tmp_path: Path
) -> None:
    sample = etl_log(80)
    lines = sample.text.splitlines(keepends=True)
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(lines[:40]), encoding="utf-8")
    log_path = tmp_path / "replay.out"
    before = readings_accepted(server)
    command = replay_command(server, "etl", path, "--follow", "--poll-interval", "0.05")
    with log_path.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)
        with path.open("a", encoding="utf-8") as file:
            file.writelines(lines[40:60])
        path.rename(tmp_path / "runs.jsonl.1")  # rotated; the rest goes to a new file
        time.sleep(0.3)
        path.write_text("".join(lines[60:]), encoding="utf-8")
        expected = 4 * sample.good  # every generated run has all three measures
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while readings_accepted(server) < before + expected and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(RUN_TIMEOUT_S) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    summary = log_path.read_text()
    assert f"{expected:,} readings sent, {expected:,} accepted" in summary
    assert f"{sample.malformed_total:,} malformed lines" in summary
    assert "rotations: 1" in summary
    counts = readings_by_metric(tansu.bootstrap, topic, minimum=1)
    assert counts.get("etl.success") == sample.good


def readings_accepted(server: SluiceServer) -> float:
    for line in server.metrics_text().splitlines():
        if line.startswith("sluice_readings_accepted_total"):
            return float(line.split()[-1])
    return 0.0
