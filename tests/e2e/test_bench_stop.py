"""A benchmark run stopped by SIGTERM mid-scenario stops every process it started: the broker,
the server under test (each in a session of its own) and the load generator's processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

STARTED_TIMEOUT_S = 90.0
"""Time for the run to start its broker, its server and the load generator's workers."""


def _descendants(process: psutil.Process) -> list[psutil.Process]:
    try:
        return list(process.children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_load_workers(run: psutil.Process) -> list[psutil.Process]:
    """The run's process tree once the load generator's worker processes are up."""
    deadline = time.monotonic() + STARTED_TIMEOUT_S
    while time.monotonic() < deadline:
        tree = _descendants(run)
        loadgens = [p for p in tree if "benchmarks.loadgen" in " ".join(_cmdline(p))]
        if loadgens and any(_descendants(loadgen) for loadgen in loadgens):
            return tree
        if not run.is_running():
            break
        time.sleep(0.2)
    raise AssertionError("the run never got as far as starting its load generator")


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return list(process.cmdline())
    except psutil.Error:
        return []


def test_sigterm_stops_every_process_the_run_started(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.run", "--only", "c_plain", "--rounds", "1",
               "--duration", "60", "--warmup", "1", "--no-transforms", "--no-readme",
               "--out", str(tmp_path)]  # fmt: skip
    log = (tmp_path / "run.log").open("wb")
    run = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    tree: list[psutil.Process] = []
    try:
        tree = _wait_for_load_workers(psutil.Process(run.pid))
        assert any("transport_ceiling" in " ".join(_cmdline(p)) for p in tree)
        assert any("tansu" in " ".join(_cmdline(p)) for p in tree)

        run.send_signal(signal.SIGTERM)
        assert run.wait(60) == 128 + signal.SIGTERM

        deadline = time.monotonic() + 10
        while any(_running(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [" ".join(_cmdline(p)) for p in tree if _running(p)]
        assert left == []
        assert not (tmp_path / f"{time.strftime('%Y-%m-%d')}.json").exists()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        log.close()
        for process in tree:  # only what this test's run started, by PID
            if _running(process):
                os.kill(process.pid, signal.SIGKILL)
