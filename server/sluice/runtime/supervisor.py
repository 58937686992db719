"""Runs N worker processes: forwards signals to them and restarts the ones that crash.

The workers share the gRPC and ops ports through SO_REUSEPORT. They stay in the
supervisor's process group, so a terminal's Ctrl-C reaches them directly; a signal sent to
the supervisor alone (``kill -TERM <pid>``, a container runtime) is forwarded by it, so a
worker must treat a repeated SIGINT/SIGTERM as the same request to drain.

A worker starts with SIGHUP blocked, and unblocks it once its handler is installed, so a
SIGHUP forwarded while it starts is delivered then rather than killing it.

Each worker gets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory, removed at exit) and
``SLUICE_WORKER_INDEX``. A dead worker is marked with ``mark_process_dead`` so its live
gauges stop counting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKER_INDEX_ENV = "SLUICE_WORKER_INDEX"
DEFAULT_RESTART_BACKOFF_S = 1.0
MAX_RESTART_BACKOFF_S = 30.0
DEFAULT_MAX_RESTARTS_PER_MINUTE = 5
DEFAULT_STARTUP_WINDOW_S = 1.0
DEFAULT_SHUTDOWN_GRACE_S = 60.0
KILL_WAIT_S = 5.0
IDLE_POLL_S = 1.0

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
FORWARDED_SIGNALS = (*STOP_SIGNALS, signal.SIGHUP)
_HANDLED_SIGNALS = (*FORWARDED_SIGNALS, signal.SIGCHLD)

log = logging.getLogger("sluice.supervisor")


@dataclass
class _Worker:
    """One worker slot: the process filling it now, and its restart history."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    exit_code: int | None = None
    restarts: deque[float] = field(default_factory=deque)


class SupervisorError(RuntimeError):
    """The supervisor cannot start its workers."""


class Supervisor:
    """Starts ``worker_count`` processes running ``worker_command(index)`` and watches them.

    ``run()`` blocks in the main thread until the workers are gone and returns the exit
    code: 0 when every worker exited 0 after SIGTERM/SIGINT, a start-up failure's own code,
    and 1 otherwise.
    """

    def __init__(
        self,
        worker_count: int,
        worker_command: Callable[[int], list[str]],
        env: Mapping[str, str] | None = None,
        restart_backoff_s: float = DEFAULT_RESTART_BACKOFF_S,
        *,
        shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S,
        startup_window_s: float = DEFAULT_STARTUP_WINDOW_S,
        max_restarts_per_minute: int = DEFAULT_MAX_RESTARTS_PER_MINUTE,
    ) -> None:
        if worker_count < 1:
            raise ValueError(f"worker_count must be at least 1, not {worker_count}")
        self._workers = [_Worker(index) for index in range(worker_count)]
        self._worker_command = worker_command
        self._env = env
        self._restart_backoff_s = restart_backoff_s
        self._shutdown_grace_s = shutdown_grace_s
        self._startup_window_s = startup_window_s
        self._max_restarts_per_minute = max_restarts_per_minute
        self._pending_signals: deque[int] = deque()
        self._metrics_dir = ""
        self._stopping_since: float | None = None
        self._killed_at: float | None = None
        self._failure_code: int | None = None

    def run(self) -> int:
        """Start the workers and supervise them until they have all exited.

        Raises ``SupervisorError`` when there is no writable temporary directory for the
        workers' metrics files.
        """
        try:
            self._metrics_dir = tempfile.mkdtemp(prefix="sluice-metrics-")
        except OSError as error:
            raise SupervisorError(
                "--workers needs a writable temporary directory for the workers' metrics "
                f"(set TMPDIR, or give /tmp a writable volume on a read-only root): {error}"
            ) from None
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        previous_handlers = {sig: signal.signal(sig, self._on_signal) for sig in _HANDLED_SIGNALS}
        previous_wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        try:
            for worker in self._workers:
                if self._stopping_since is None:
                    self._spawn(worker)
            return self._supervise(wake_read)
        finally:
            self._kill_remaining()
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            os.close(wake_read)
            os.close(wake_write)
            shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._pending_signals.append(signum)

    def _supervise(self, wake_fd: int) -> int:
        while True:
            self._handle_signals()
            now = time.monotonic()
            self._reap(now)
            if not self._alive() and (self._stopping_since is not None or not self._pending()):
                return self._exit_code()
            if self._killed_at is not None and now > self._killed_at + KILL_WAIT_S:
                log.error("workers still alive after SIGKILL; giving up on them")
                return 1
            self._restart_due(now)
            self._escalate(now)
            self._sleep(wake_fd, self._next_deadline(now) - now)

    def _handle_signals(self) -> None:
        while self._pending_signals:
            signum = self._pending_signals.popleft()
            if signum == signal.SIGCHLD:
                continue
            if signum in STOP_SIGNALS:
                self._begin_stop()
            name = signal.Signals(signum).name
            log.info("forwarding %s to the workers", name, extra={"signal": name})
            self._signal_all(signum)

    def _begin_stop(self) -> None:
        if self._stopping_since is not None:
            return
        self._stopping_since = time.monotonic()
        for worker in self._workers:
            worker.restart_at = None

    def _fail(self, exit_code: int) -> None:
        """Stop every worker and make ``run()`` return ``exit_code``."""
        if self._failure_code is None:
            self._failure_code = exit_code
        if self._stopping_since is None:
            self._begin_stop()
            self._signal_all(signal.SIGTERM)

    def _spawn(self, worker: _Worker) -> None:
        env = dict(os.environ if self._env is None else self._env)
        env[MULTIPROC_DIR_ENV] = self._metrics_dir
        env[WORKER_INDEX_ENV] = str(worker.index)
        command = self._worker_command(worker.index)
        # The worker inherits SIGHUP blocked, so a reload forwarded before it has installed
        # its handler waits for that handler instead of killing it (SIGHUP's default action).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            worker.process = subprocess.Popen(command, env=env)
        except OSError:
            log.exception("cannot start worker", extra={"worker": worker.index})
            self._fail(1)
            return
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        worker.started_at = time.monotonic()
        log.info(
            "worker started",
            extra={"worker": worker.index, "pid": worker.process.pid},
        )

    def _reap(self, now: float) -> None:
        for worker in self._workers:
            process = worker.process
            if process is None or process.poll() is None:
                continue
            worker.process = None
            worker.exit_code = code = process.returncode
            mark_process_dead(process.pid, self._metrics_dir)  # type: ignore[no-untyped-call]
            fields = {"worker": worker.index, "pid": process.pid, "exit_code": code}
            if self._stopping_since is not None or code == 0:
                log.info("worker exited", extra=fields)
            elif code > 0 and now - worker.started_at < self._startup_window_s:
                log.error("worker failed at start-up; stopping", extra=fields)
                self._fail(code)
            else:
                self._schedule_restart(worker, now, fields)

    def _schedule_restart(self, worker: _Worker, now: float, fields: dict[str, int]) -> None:
        while worker.restarts and worker.restarts[0] < now - 60.0:
            worker.restarts.popleft()
        if len(worker.restarts) >= self._max_restarts_per_minute:
            log.error("worker exited; restart limit reached, stopping", extra=fields)
            code = fields["exit_code"]
            self._fail(code if code > 0 else 1)
            return
        delay = min(self._restart_backoff_s * 2 ** len(worker.restarts), MAX_RESTART_BACKOFF_S)
        worker.restarts.append(now)
        worker.restart_at = now + delay
        log.warning("worker exited; restarting", extra={**fields, "delay_s": delay})

    def _restart_due(self, now: float) -> None:
        for worker in self._workers:
            if worker.restart_at is not None and worker.restart_at <= now:
                worker.restart_at = None
                self._spawn(worker)

    def _escalate(self, now: float) -> None:
        if self._stopping_since is None or self._killed_at is not None:
            return
        if now < self._stopping_since + self._shutdown_grace_s:
            return
        log.error(
            "workers still running %.1f s after the stop signal; killing them",
            self._shutdown_grace_s,
        )
        self._killed_at = now
        self._signal_all(signal.SIGKILL)

    def _next_deadline(self, now: float) -> float:
        deadlines = [now + IDLE_POLL_S]
        deadlines.extend(w.restart_at for w in self._workers if w.restart_at is not None)
        if self._stopping_since is not None and self._killed_at is None:
            deadlines.append(self._stopping_since + self._shutdown_grace_s)
        if self._killed_at is not None:
            deadlines.append(self._killed_at + KILL_WAIT_S)
        return min(deadlines)

    @staticmethod
    def _sleep(wake_fd: int, timeout: float) -> None:
        """Wait up to ``timeout`` seconds, returning early when any signal arrives."""
        select.select([wake_fd], [], [], max(timeout, 0.0))
        try:
            while os.read(wake_fd, 512):
                pass
        except BlockingIOError:
            pass

    def _signal_all(self, signum: int) -> None:
        for worker in self._workers:
            if worker.process is not None:
                # Popen.send_signal does nothing once the process is reaped, so a reused
                # pid is never hit.
                worker.process.send_signal(signum)

    def _kill_remaining(self) -> None:
        for worker in self._workers:
            process = worker.process
            if process is not None and process.poll() is None:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(KILL_WAIT_S)
                mark_process_dead(process.pid, self._metrics_dir)  # type: ignore[no-untyped-call]

    def _alive(self) -> bool:
        return any(worker.process is not None for worker in self._workers)

    def _pending(self) -> bool:
        return any(worker.restart_at is not None for worker in self._workers)

    def _exit_code(self) -> int:
        if self._failure_code is not None:
            return self._failure_code
        return 0 if all(worker.exit_code == 0 for worker in self._workers) else 1
