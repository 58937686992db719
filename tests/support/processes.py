"""A helper process for the tests (a broker, Prometheus, a collector), stopped by its PID."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

STOP_TIMEOUT_S = 10.0


class ManagedProcess:
    """``command`` in the foreground, its output in ``log_path``, until ``stop()``."""

    def __init__(self, command: Sequence[str], log_path: Path) -> None:
        self.command = list(command)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> None:
        """Start the process and wait until ``ready()``; stop it and raise if it never is."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout_s
        while not ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                name = Path(self.command[0]).name
                raise RuntimeError(f"{name} did not start:\n{self.logs()}")
            time.sleep(poll_s)

    def stop(self) -> None:
        """Terminate the process by PID, killing it if it lingers. Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def logs(self, tail: int = 3000) -> str:
        """The last ``tail`` characters the process printed."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-tail:]
