"""Fixtures for the ops tests: subprocesses that are always cleaned up."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest


class Spawner:
    """Starts Python subprocesses and kills every one of them, by PID, at teardown."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[str]] = []

    def python(self, code: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
        """Run ``python -c code args...`` with text pipes unless ``popen`` says otherwise."""
        popen.setdefault("stdin", subprocess.PIPE)
        popen.setdefault("stdout", subprocess.PIPE)
        process = subprocess.Popen([sys.executable, "-c", code, *args], text=True, **popen)
        self.processes.append(process)
        return process

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=10)


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``spawn(code, *args, **popen)`` runs ``python -c code``; all are killed at teardown."""
    spawner = Spawner()
    try:
        yield spawner.python
    finally:
        spawner.cleanup()
