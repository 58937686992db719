"""Runs real ``sluice serve`` processes for the tests, and always cleans them up."""

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

import psutil
import yaml

from sluice.core.netutil import free_port

READY_TIMEOUT_S = 30.0


class SluiceServer:
    """One ``sluice serve`` process (a worker, or a supervisor and its workers).

    ``ports`` (gRPC, ops) reuses the ports of an earlier server, to restart it in place.

    It runs in a session of its own, so ``stop``/``kill`` reach its workers through the
    process group of the PID this object started, and nothing else.
    """

    def __init__(
        self,
        config: dict[str, Any],
        workdir: Path,
        workers: int = 1,
        env: dict[str, str] | None = None,
        ports: tuple[int, int] | None = None,
    ) -> None:
        self.grpc_port, self.ops_port = ports or (free_port(), free_port())
        merged = dict(config)
        merged["server"] = {"listen": f"127.0.0.1:{self.grpc_port}", **config.get("server", {})}
        merged["ops"] = {"listen": f"127.0.0.1:{self.ops_port}", **config.get("ops", {})}
        # A spool of its own unless told otherwise, so no test adopts another's segments.
        spool_dir = str(workdir / f"spool-{self.grpc_port}")
        merged["spool"] = {"dir": spool_dir, **config.get("spool", {})}
        self.config_path = workdir / f"sluice-{self.grpc_port}.yaml"
        self.config_path.write_text(yaml.safe_dump(merged), encoding="utf-8")
        self.log_path = workdir / f"sluice-{self.grpc_port}.log"
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        """The gRPC target of the server."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def ops_url(self) -> str:
        """The base URL of the ops listener."""
        return f"http://127.0.0.1:{self.ops_port}"

    def start(self, until: str = "/readyz") -> SluiceServer:
        """Start the process and wait until ``until`` answers 200 (``/healthz`` for a server
        that is up but, by design, not ready: Kafka down and no spool room) and, with
        several workers, until every worker listens: the shared ops port answers as soon
        as one of them does."""
        command = [sys.executable, "-m", "sluice", "serve", "--config", str(self.config_path)]
        command += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sluice exited with {self.process.returncode}:\n{self.logs()}")
            if self.http_status(until) == 200 and self._workers_listening():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"sluice was not ready within {READY_TIMEOUT_S}s:\n{self.logs()}")

    def _workers_listening(self) -> bool:
        """True once every worker process listens on the gRPC port."""
        if self.workers == 1 or self.process is None:
            return True
        listening = 0
        for worker in psutil.Process(self.process.pid).children():
            with contextlib.suppress(psutil.Error):
                listening += any(
                    c.status == psutil.CONN_LISTEN and c.laddr.port == self.grpc_port
                    for c in worker.net_connections(kind="tcp")
                )
        return listening >= self.workers

    def http_status(self, path: str) -> int:
        """The HTTP status of GET ``path`` on the ops listener, 0 if it does not answer."""
        try:
            with urllib.request.urlopen(self.ops_url + path, timeout=2) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def metrics_text(self) -> str:
        """The Prometheus exposition of the ops listener."""
        with urllib.request.urlopen(self.ops_url + "/metrics", timeout=5) as response:
            text: str = response.read().decode()
            return text

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the process this object started."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for the drain, and return the exit code (killing on timeout)."""
        if self.process is None:
            return 0
        self.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        finally:
            self._reap_group()

    def kill(self) -> None:
        """SIGKILL the process and every process of its group."""
        if self.process is None:
            return
        self._reap_group(signal.SIGKILL)
        self.process.wait(10)

    def _reap_group(self, signum: int = signal.SIGKILL) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def logs(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> SluiceServer:
        return self if self.process is not None else self.start()

    def __exit__(self, *_exc: object) -> None:
        if self.process is None:
            return
        try:
            if self.process.poll() is None:
                self.stop()
        finally:
            self._reap_group()
