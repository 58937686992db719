"""The benchmark's process measurements, on a real process: CPU time split by thread."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from benchmarks.procs import ENDED, THREAD_KINDS, Launched, split_by_kind

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
        split = split_by_kind({}, process.thread_times(), process.cpu_seconds())
    finally:
        process.stop()
    assert set(split) == {*THREAD_KINDS, ENDED}
    assert 0.35 <= split["main"] < 0.8
    assert 0.15 <= split["python"] < 0.4
    assert split["grpc"] == split["librdkafka"] == 0.0


# Once the file named by argv[1] exists, a thread spins for 0.3 s of CPU and ends.
ENDING = """
import os, sys, threading, time

def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

print("waiting", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
worker = threading.Thread(target=spin, args=(0.3,))
worker.start()
worker.join()
print("ended", flush=True)
time.sleep(60)
"""


def test_a_thread_that_ends_inside_the_window_is_counted_as_ended(tmp_path: Path) -> None:
    trigger = tmp_path / "go"
    process = Launched([sys.executable, "-c", ENDING, str(trigger)], tmp_path / "end.log")
    try:
        deadline = time.monotonic() + 30
        while "waiting" not in process.tail() and time.monotonic() < deadline:
            time.sleep(0.05)
        whole_start, start = process.cpu_seconds(), process.thread_times()
        trigger.touch()
        while "ended" not in process.tail() and time.monotonic() < deadline:
            time.sleep(0.05)
        whole = process.cpu_seconds() - whole_start
        split = split_by_kind(start, process.thread_times(), whole)
    finally:
        process.stop()
    assert 0.25 <= split[ENDED] < 0.6
    assert split["python"] == 0.0  # the spinning thread is gone: no live thread holds its time
    assert split["main"] < 0.2
    assert sum(split.values()) == pytest.approx(whole)
