"""Processes under measurement: started pinned, measured as a tree, stopped by group.

CPU time is counted for the whole process tree (a supervisor and its workers), every thread
included: the Python threads, grpc's and librdkafka's native ones. It is also split by the
kind of thread that spent it (``thread_kind``), which is the first cut of a profile.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import grpc
import psutil  # type: ignore[import-untyped]

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def exit_on_termination() -> None:
    """Make SIGTERM and SIGHUP end this process as ``sys.exit`` does, so that every ``finally``
    and ``with`` on the way out stops the processes it started.

    Python's default for SIGTERM is to die at once, which would leave the servers, brokers and
    load generators behind: they run in sessions of their own, out of reach of a signal sent
    to this one's group. A second signal during the clean-up is ignored, so it cannot cut it
    short.
    """

    def leave(signum: int, _frame: FrameType | None) -> None:
        for ignored in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(ignored, signal.SIG_IGN)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGHUP, leave)


def split_by_kind(start: ThreadTimes, end: ThreadTimes, whole_s: float) -> dict[str, float]:
    """The CPU seconds each kind of thread spent between two ``thread_times`` snapshots, and
    under ``ENDED`` the rest of ``whole_s`` (the tree's CPU time over the same window).

    A thread alive at the end is counted from its time at the start (0 if it started since).
    A thread that ended in between is gone from the end snapshot, and what it spent in the
    window is known only as the part of the whole no live thread accounts for.
    """
    split = dict.fromkeys(THREAD_KINDS, 0.0)
    for key, (kind, seconds) in end.items():
        before = start.get(key)
        split[kind] += seconds - (before[1] if before is not None else 0.0)
    # /proc's per-thread and per-process times are read moments apart: a few ms either way.
    split[ENDED] = max(whole_s - sum(split.values()), 0.0)
    return split


def pinned(command: Sequence[str], cpus: Sequence[int] | None) -> list[str]:
    """``command`` run through ``taskset`` on ``cpus`` (every thread it starts inherits it)."""
    if not cpus:
        return list(command)
    return ["taskset", "-c", ",".join(map(str, cpus)), *command]


THREAD_KINDS = ("main", "python", "grpc", "librdkafka", "other")
"""The kinds of thread ``thread_kind`` tells apart, in the order tables show them."""
ENDED = "ended"
"""Where ``split_by_kind`` puts the CPU time of threads that ended inside the window."""

ThreadTimes = dict[tuple[int, int], tuple[str, float]]
"""(pid, thread id) → (kind of thread, CPU seconds used so far)."""


GRPC_THREADS = ("event_engine", "grpc", "nexting_thread", "default-executo", "timer_manager")


def thread_kind(name: str, main_name: str, is_main: bool) -> str:
    """What a thread of a Python server is, from its OS name (``comm``).

    - ``main``: a process's main thread (a Sluice worker's event loop);
    - ``python``: its other Python threads, which keep the process's name (the Kafka
      delivery poller, grpc.aio's completion-queue poller, executor threads);
    - ``grpc``: grpc's native threads (its event engine does the socket and HTTP/2 work;
      the C++ callback API's threads are ``nexting_thread``, ``default-executo(r)`` and
      ``timer_manager``);
    - ``librdkafka``: librdkafka's threads (``rdk:``; the broker threads compress and send);
    - ``other``: anything else.
    """
    if is_main:
        return "main"
    if name.startswith("rdk:"):
        return "librdkafka"
    if name.startswith(GRPC_THREADS):
        return "grpc"
    if name == main_name:
        return "python"
    return "other"


def _comm(pid: int, tid: int) -> str:
    try:
        with open(f"/proc/{pid}/task/{tid}/comm", encoding="utf-8", errors="replace") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def peak_rss_bytes(pid: int) -> int:
    """The peak resident set size (VmHWM) of a live process, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Launched:
    """A process started in a session of its own, so its whole group can be stopped."""

    def __init__(
        self,
        command: Sequence[str],
        log_path: Path,
        cpus: Sequence[int] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                pinned(command, cpus),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        self._psutil = psutil.Process(self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    def tree(self) -> list[psutil.Process]:
        """The process and every live descendant."""
        try:
            return [self._psutil, *self._psutil.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User plus system CPU seconds used so far by the tree, threads included."""
        total = 0.0
        for process in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def thread_times(self) -> ThreadTimes:
        """Every live thread of the tree: its ``thread_kind`` and the user plus system CPU
        seconds it has used so far."""
        times: ThreadTimes = {}
        for process in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                pid = process.pid
                main_name = _comm(pid, pid)
                for thread in process.threads():
                    kind = thread_kind(_comm(pid, thread.id), main_name, thread.id == pid)
                    times[(pid, thread.id)] = (kind, thread.user_time + thread.system_time)
        return times

    def cpu_by_process(self) -> dict[int, float]:
        """User plus system CPU seconds used so far by each process of the tree."""
        times: dict[int, float] = {}
        for process in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                cpu = process.cpu_times()
                times[process.pid] = cpu.user + cpu.system
        return times

    def connections_by_process(self, port: int) -> dict[int, int]:
        """Established TCP connections to local ``port`` held by each process of the tree."""
        counts: dict[int, int] = {}
        for process in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                counts[process.pid] = sum(
                    1
                    for connection in process.net_connections(kind="tcp")
                    if connection.laddr
                    and connection.laddr.port == port
                    and connection.status == psutil.CONN_ESTABLISHED
                )
        return counts

    def rss(self) -> int:
        """The resident set size of the whole tree now, in bytes."""
        total = 0
        for process in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def peak_rss(self) -> tuple[int, int]:
        """(largest peak RSS of one process of the tree, sum of the peaks), in bytes."""
        peaks = [peak_rss_bytes(process.pid) for process in self.tree()]
        return (max(peaks, default=0), sum(peaks))

    def wait_grpc_ready(self, target: str) -> None:
        """Block until ``target`` accepts a gRPC connection (or the process dies)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        with grpc.insecure_channel(target) as channel:
            ready = grpc.channel_ready_future(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"exited with {self.process.returncode}: {self.tail()}")
                try:
                    ready.result(timeout=0.2)
                    return
                except grpc.FutureTimeoutError:
                    continue
        raise RuntimeError(f"not ready within {READY_TIMEOUT_S}s: {self.tail()}")

    def wait_tcp_ready(self, port: int) -> None:
        """Block until 127.0.0.1:``port`` accepts a TCP connection (or the process dies)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}: {self.tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"not listening on {port} within {READY_TIMEOUT_S}s: {self.tail()}")

    def tail(self, size: int = 2000) -> str:
        """The end of the process's output."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-size:]

    def stop(self) -> int | None:
        """SIGTERM the group, wait, then SIGKILL whatever is left; the exit code."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        return self.process.returncode
