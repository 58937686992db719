"""The supervisor, run as a real process over real worker processes.

Each worker writes its events to ``<index>-<pid>.events`` in the test's directory. The
supervisor runs in a session of its own, so teardown reaches it and its workers through
the process group of the one PID the test started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

WAIT_S = 20.0

WORKER = """
import os, signal, sys, time
from pathlib import Path
from prometheus_client import Gauge

events_dir, modes = Path(sys.argv[1]), sys.argv[2].split(",")
index = int(os.environ["SLUICE_WORKER_INDEX"])
mode = modes[index]
events = events_dir / f"{index}-{os.getpid()}.events"

def record(event):
    with events.open("a") as out:
        out.write(event + "\\n")

record("started " + os.environ["PROMETHEUS_MULTIPROC_DIR"])
if mode == "fail":
    sys.exit(3)
if mode == "done":
    sys.exit(0)
Gauge("test_worker_up", "1 while this worker runs.", multiprocess_mode="livesum").set(1)
stopping = False

def on_stop(signum, frame):
    global stopping
    record(signal.Signals(signum).name)
    stopping = mode != "stubborn"

signal.signal(signal.SIGTERM, on_stop)
signal.signal(signal.SIGINT, on_stop)
signal.signal(signal.SIGHUP, lambda signum, frame: record("SIGHUP"))
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # workers start with it blocked
deadline = time.monotonic() + (0.5 if mode == "crash" else 60)
while not stopping and time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(2 if mode == "crash" else 0)
"""

SUPERVISE = """
import json, sys
from sluice.core.config.ops import LoggingConfig
from sluice.ops.logs import configure_logging
from sluice.runtime.supervisor import Supervisor

worker, events_dir, modes, options = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
configure_logging(LoggingConfig())
command = lambda index: [sys.executable, worker, events_dir, modes]
sys.exit(Supervisor(len(modes.split(",")), command, **options).run())
"""


class SupervisorProcess:
    """A supervisor started with ``python -c`` and the worker script above."""

    def __init__(self, tmp_path: Path, modes: str, **options: Any) -> None:
        self.events_dir = tmp_path / "events"
        self.events_dir.mkdir()
        worker = tmp_path / "worker.py"
        worker.write_text(WORKER, encoding="utf-8")
        self.log_path = tmp_path / "supervisor.log"
        options = {"restart_backoff_s": 0.05, "shutdown_grace_s": 10.0, **options}
        command = [sys.executable, "-c", SUPERVISE, str(worker), str(self.events_dir), modes]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*command, json.dumps(options)],
                stderr=log,
                start_new_session=True,
            )

    def workers(self, index: int) -> dict[int, list[str]]:
        """The events of every process that has run as worker ``index``, by pid."""
        found = {}
        for path in self.events_dir.glob(f"{index}-*.events"):
            found[int(path.stem.split("-")[1])] = path.read_text().splitlines()
        return found

    def running_worker(self, index: int) -> int:
        """The pid of the one live worker ``index`` once it has started."""
        live = wait_for(lambda: [pid for pid in self.workers(index) if is_alive(pid)])
        assert len(live) == 1, live
        return live[0]

    def wait(self) -> int:
        return self.process.wait(timeout=WAIT_S)

    def log_events(self) -> list[dict[str, Any]]:
        parsed = []
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                parsed.append(json.loads(line))
        return [event for event in parsed if isinstance(event, dict)]

    def kill_everything(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=WAIT_S)


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """The first truthy value of ``predicate()``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


def is_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., SupervisorProcess]]:
    started: list[SupervisorProcess] = []

    def start(modes: str, **options: Any) -> SupervisorProcess:
        supervisor = SupervisorProcess(tmp_path, modes, **options)
        started.append(supervisor)
        return supervisor

    try:
        yield start
    finally:
        for supervisor in started:
            supervisor.kill_everything()


Supervise = Callable[..., SupervisorProcess]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_stop_signal_is_forwarded_and_clean_exits_give_0(
    supervise: Supervise, stop_signal: signal.Signals
) -> None:
    supervisor = supervise("ok,ok")
    pids = [supervisor.running_worker(0), supervisor.running_worker(1)]

    supervisor.process.send_signal(stop_signal)

    assert supervisor.wait() == 0
    for index, pid in enumerate(pids):
        assert supervisor.workers(index)[pid][1:] == [stop_signal.name]
        assert not is_alive(pid)


def test_workers_share_a_metrics_dir_that_is_removed_at_exit(supervise: Supervise) -> None:
    supervisor = supervise("ok,ok")
    pids = [supervisor.running_worker(0), supervisor.running_worker(1)]
    first_lines = {supervisor.workers(i)[pid][0] for i, pid in enumerate(pids)}
    [started] = first_lines
    metrics_dir = Path(started.removeprefix("started "))
    assert metrics_dir.is_dir()

    supervisor.process.send_signal(signal.SIGTERM)

    assert supervisor.wait() == 0
    assert not metrics_dir.exists()


def test_sighup_is_forwarded_and_the_workers_keep_running(supervise: Supervise) -> None:
    supervisor = supervise("ok,ok")
    pids = [supervisor.running_worker(0), supervisor.running_worker(1)]

    supervisor.process.send_signal(signal.SIGHUP)

    for index, pid in enumerate(pids):
        wait_for(lambda i=index, p=pid: "SIGHUP" in supervisor.workers(i)[p])
    assert supervisor.process.poll() is None
    assert all(is_alive(pid) for pid in pids)
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.wait() == 0


def test_a_killed_worker_is_restarted_and_marked_dead(supervise: Supervise) -> None:
    supervisor = supervise("ok,ok")
    killed = supervisor.running_worker(0)
    metrics_dir = Path(supervisor.workers(0)[killed][0].removeprefix("started "))
    wait_for(lambda: (metrics_dir / f"gauge_livesum_{killed}.db").exists())

    os.kill(killed, signal.SIGKILL)

    replacement = wait_for(lambda: [pid for pid in supervisor.workers(0) if pid != killed])[0]
    wait_for(lambda: (metrics_dir / f"gauge_livesum_{replacement}.db").exists())
    assert not (metrics_dir / f"gauge_livesum_{killed}.db").exists()
    assert len(supervisor.workers(1)) == 1
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.wait() == 0
    restarts = [e for e in supervisor.log_events() if e["message"] == "worker exited; restarting"]
    assert [(e["worker"], e["pid"], e["exit_code"]) for e in restarts] == [
        (0, killed, -signal.SIGKILL)
    ]


@pytest.mark.parametrize("modes", ["ok,fail", "fail,fail"])
def test_a_worker_failing_at_start_stops_all_and_gives_its_code(
    supervise: Supervise, modes: str
) -> None:
    supervisor = supervise(modes)

    assert supervisor.wait() == 3
    # No restart: each worker ran at most once (one may be stopped before it ever starts).
    runs = [supervisor.workers(index) for index in range(len(modes.split(",")))]
    assert [len(each) <= 1 for each in runs] == [True, True]
    assert sum(len(each) for each in runs) >= 1
    assert not any(is_alive(pid) for each in runs for pid in each)


def test_a_crash_loop_stops_at_the_restart_limit(supervise: Supervise) -> None:
    supervisor = supervise("crash", startup_window_s=0.2, max_restarts_per_minute=2)

    assert supervisor.wait() == 2
    assert len(supervisor.workers(0)) == 3


def test_a_worker_that_finishes_cleanly_is_not_restarted(supervise: Supervise) -> None:
    supervisor = supervise("done,done")

    assert supervisor.wait() == 0
    assert [len(supervisor.workers(i)) for i in (0, 1)] == [1, 1]


def test_a_worker_ignoring_the_stop_signal_is_killed_after_the_grace(
    supervise: Supervise,
) -> None:
    supervisor = supervise("ok,stubborn", shutdown_grace_s=0.5)
    stubborn = supervisor.running_worker(1)

    supervisor.process.send_signal(signal.SIGTERM)

    assert supervisor.wait() == 1
    assert supervisor.workers(1)[stubborn][1:] == ["SIGTERM"]
    assert not is_alive(stubborn)
