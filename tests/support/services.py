"""Runs ``sluice rollup`` and ``sluice query`` processes for the tests, and cleans them up.

Each process runs in a session of its own and is signalled through the PID this helper
started (its process group), never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

READY_TIMEOUT_S = 30.0


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """The status and body of GET ``url``; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


class SluiceCommand:
    """``sluice <command> --config <file>``, ready once ``ready_url`` answers 200; run by
    ``python`` (by default the tests' own, with Sluice installed editable)."""

    def __init__(
        self,
        command: str,
        config: dict[str, Any],
        workdir: Path,
        ready_url: str,
        name: str = "",
        python: Path | str = sys.executable,
    ) -> None:
        label = name or command
        self.config_path = workdir / f"{label}.yaml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log_path = workdir / f"{label}.log"
        self.command = command
        self.ready_url = ready_url
        self.python = str(python)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SluiceCommand:
        """Start the process and wait until it is ready."""
        argv = [self.python, "-m", "sluice", self.command, "--config", str(self.config_path)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while http_get(self.ready_url, timeout=1)[0] != 200:
            if self.process.poll() is not None:
                raise RuntimeError(f"sluice {self.command} exited:\n{self.logs()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"sluice {self.command} was not ready:\n{self.logs()}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait, and return the exit code (killing the group on timeout)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the process and its group; wait for it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def logs(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> SluiceCommand:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.kill()
