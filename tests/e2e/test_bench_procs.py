"""The benchmark's process measurements, on a real process: CPU time split by thread."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from benchmarks.procs import THREAD_KINDS, Launched

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

# The main thread spins for 0.4 s of CPU and one other Python thread for 0.2 s; both then
# stay alive, idle.
SPINNERS = """
import threading, time

def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

spun = threading.Event()

def other():
    spin(0.2)
    spun.set()
    time.sleep(60)

threading.Thread(target=other, daemon=True).start()
spin(0.4)
spun.wait()
print("spun", flush=True)
time.sleep(60)
"""


def test_cpu_time_is_split_between_the_main_thread_and_the_other_python_threads(
    tmp_path: Path,
) -> None:
    process = Launched([sys.executable, "-c", SPINNERS], tmp_path / "spin.log")
    try:
        deadline = time.monotonic() + 30
        while "spun" not in process.tail() and time.monotonic() < deadline:
            time.sleep(0.05)
        split = process.cpu_seconds_by_thread_kind()
    finally:
        process.stop()
    assert set(split) == set(THREAD_KINDS)
    assert 0.35 <= split["main"] < 0.8
    assert 0.15 <= split["python"] < 0.4
    assert split["grpc"] == split["librdkafka"] == 0.0
