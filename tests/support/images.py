"""The server image for the tests: built once per session, and containers run from it.

- ``sluice_image`` (session scope) builds the committed Dockerfile with ``scripts/image.sh``,
  which ``make image`` runs too, and returns the image reference. The base image is cached
  between runs; the image itself reuses the engine's layer cache.
- ``Container`` runs one container in the foreground with this machine's engine flags, and
  always removes it; ``run_in_image`` runs a short command and returns what it printed.
- ``record_step`` notes how long a container step took; ``pytest_terminal_summary`` (imported
  into tests/conftest.py) prints the steps at the end of the run.

The engine is docker where a docker engine answers, else podman with runc (DESIGN.md,
"Containers here"): crun refuses this machine's cgroup layout, and podman's default ulimits
exceed what the sandbox allows. A missing engine fails the tests, never skips them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE_SCRIPT = REPO / "scripts" / "image.sh"
BUILD_TIMEOUT_S = 600.0
"""The base and the image from nothing (debootstrap and PyPI included): 2 to 3 minutes here."""
REMOVE_TIMEOUT_S = 30.0
PODMAN_RUN_FLAGS = ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096")
"""Limits inside what this machine's sandbox allows (podman's defaults exceed them)."""


@dataclass(frozen=True)
class Step:
    """A timed container step, as the end-of-run summary prints it."""

    label: str
    seconds: float
    note: str = ""

    def __str__(self) -> str:
        return f"{self.label} {self.seconds:.1f} s" + (f" ({self.note})" if self.note else "")


_steps: list[Step] = []


def record_step(label: str, seconds: float, note: str = "") -> None:
    """Note a container step (a build, a stack run) for the end-of-run summary."""
    _steps.append(Step(label, seconds, note))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the image, compose and browser steps of this run and their total, e.g.
    ``base 0.1 s (cached), image 6.2 s, compose stack 6.7 s; 13.0 s in all``."""
    if _steps:
        parts = [
            f"{s.label} {s.seconds:.1f} s" + (f" ({s.note})" if s.note else "") for s in _steps
        ]
        total = sum(step.seconds for step in _steps)
        terminalreporter.write_line(
            f"image, compose and browser steps: {', '.join(parts)}; {total:.1f} s in all"
        )


@functools.cache
def engine() -> tuple[str, ...]:
    """The container engine command: ``docker`` where its engine answers, else podman."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0
    ):
        return ("docker",)
    if shutil.which("podman") is None:
        pytest.fail("no container engine: install podman and runc (make test does, as root)")
    if shutil.which("runc") is None:
        pytest.fail("podman here needs runc (crun refuses this machine's cgroups): install runc")
    return ("podman", "--runtime", "runc")


def run_flags() -> tuple[str, ...]:
    """Flags every ``run`` needs on this engine: podman's limits, and no health check
    timer (podman schedules those through systemd, which does not run here)."""
    return (*PODMAN_RUN_FLAGS, "--no-healthcheck") if engine()[0] == "podman" else ()


def read_only_root() -> tuple[str, ...]:
    """Flags for a read-only root filesystem, as Kubernetes' ``readOnlyRootFilesystem``
    gives it: podman would otherwise mount writable tmpfs on /tmp, /var/tmp and /run."""
    flags = ("--read-only",)
    return (*flags, "--read-only-tmpfs=false") if engine()[0] == "podman" else flags


def engine_name() -> str:
    """``docker`` or ``podman``, as ``scripts/image.sh`` takes it in ENGINE."""
    return engine()[0]


def image_reference() -> str:
    """The tag the tests build: one per checkout, so worktrees building at once never
    run each other's image."""
    return f"localhost/sluice:test-{hashlib.sha256(str(REPO).encode()).hexdigest()[:8]}"


def _run_script(step: str, image: str, timeout_s: float) -> str:
    """Run ``scripts/image.sh step`` and return its stdout; fail with its output if it fails.

    It runs in a session of its own, so a timeout stops the build it started and nothing
    else."""
    env = {**os.environ, "IMAGE": image, "ENGINE": engine_name()}
    process = subprocess.Popen(
        [str(IMAGE_SCRIPT), step],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if process.returncode != 0:
        pytest.fail(f"scripts/image.sh {step} failed ({process.returncode}):\n{stderr[-6000:]}")
    return stdout


@pytest.fixture(scope="session")
def sluice_image() -> str:
    """The server image built from the committed Dockerfile, as ``make image`` builds it;
    returns its reference (``localhost/sluice:test-<checkout>``).

    The base (``python:3.11-slim-bookworm``, or the local Debian base where no registry
    answers) and the image are timed separately for the end-of-run summary."""
    image = image_reference()
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    started = time.monotonic()
    # The last line is `base REF cached|pulled|built`.
    how = _run_script("base", image, BUILD_TIMEOUT_S).split()[-1]
    record_step("base", time.monotonic() - started, how)
    started = time.monotonic()
    _run_script("build", image, deadline - started)
    record_step("image", time.monotonic() - started)
    return image


class Container:
    """One ``ENGINE run --rm`` of ``image`` in the foreground, its output in ``log_path``.

    ``options`` are more ``run`` flags (volumes, environment, ``--read-only``, ``--user``,
    published ports); ``network`` is ``host`` by default, so the container reaches a broker
    on 127.0.0.1 (and must itself listen on 127.0.0.1), or the name of a network made by
    the caller. SIGTERM to the ``run`` process reaches the container (the engine forwards
    it); SIGKILL would not, so ``remove()`` kills the container by its name.

    Use it as a context manager, or call ``start()`` and, in a ``finally``, ``remove()``.
    """

    def __init__(
        self,
        image: str,
        args: Sequence[str] = (),
        *,
        log_path: Path,
        options: Sequence[str] = (),
        network: str = "host",
        entrypoint: str | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name or f"sluice-test-{uuid.uuid4().hex[:10]}"
        self.log_path = log_path
        self.command = [*engine(), "run", "--rm", "--name", self.name, *run_flags()]
        self.command += ["--network", network, *options]
        if entrypoint is not None:
            self.command += ["--entrypoint", entrypoint]
        self.command += [image, *args]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Container:
        """Start the container; returns at once (poll it for readiness)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def running(self) -> bool:
        """Whether the container's ``run`` process is still up."""
        return self.process is not None and self.process.poll() is None

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the ``run`` process, which forwards it to the container."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def wait(self, timeout_s: float) -> int:
        """The container's exit code, once it exits within ``timeout_s``."""
        assert self.process is not None, "the container was never started"
        return self.process.wait(timeout_s)

    def stop(self, timeout_s: float) -> int:
        """SIGTERM the container and return its exit code; remove it if it outlasts
        ``timeout_s`` (raising ``subprocess.TimeoutExpired``)."""
        self.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.remove()
            raise

    def remove(self) -> None:
        """Kill and remove the container and its anonymous volumes, if still there. Idempotent."""
        for verb in (["kill"], ["rm", "-f", "-v"]):
            subprocess.run(
                [*engine(), *verb, self.name],
                capture_output=True,
                timeout=REMOVE_TIMEOUT_S,
                check=False,
            )
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.wait(REMOVE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def logs(self) -> str:
        """Everything the container printed so far."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> Container:
        return self if self.process is not None else self.start()

    def __exit__(self, *_exc: object) -> None:
        self.remove()


def run_in_image(
    image: str,
    *args: str,
    options: Sequence[str] = (),
    entrypoint: str | None = None,
    timeout_s: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a fresh container of ``image`` (no network) and return what it
    printed; the container is removed even on a timeout."""
    name = f"sluice-test-{uuid.uuid4().hex[:10]}"
    command = [*engine(), "run", "--rm", "--name", name, *run_flags(), "--network", "none"]
    command += [*options, *(["--entrypoint", entrypoint] if entrypoint else []), image, *args]
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    finally:
        subprocess.run([*engine(), "rm", "-f", "-v", name], capture_output=True, check=False)


__all__ = [
    "BUILD_TIMEOUT_S",
    "Container",
    "engine",
    "image_reference",
    "pytest_terminal_summary",
    "read_only_root",
    "record_step",
    "run_flags",
    "run_in_image",
    "sluice_image",
]
