"""A throwaway PostgreSQL cluster for the tests, from Debian's ``postgresql`` binaries.

``postgres`` (session scope) runs one cluster on a free 127.0.0.1 port, in a temporary
directory, as the ``postgres`` user when the tests run as root (PostgreSQL refuses root).
``postgres_dsn`` gives each test a database of its own. The server is stopped by its PID.
``make test`` installs the binaries; a missing one fails the test, never skips it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sluice.core.netutil import free_port

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
SERVER_USER = "postgres"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",  # a test cluster: speed over durability
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "60",
    "shared_buffers": "32MB",
}


def postgres_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``postgres``."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[4]) if Path(path).parts[4].isdigit() else 0,
    )
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "install Debian's postgresql package (make test does, as root)"
        )
    return Path(found[-1]).parent


class PostgresCluster:
    """One PostgreSQL server with trust authentication for user ``postgres`` on loopback."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="sluice-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _as_server_user(self) -> dict[str, Any]:
        """Popen arguments that drop root to the ``postgres`` user (nothing when not root)."""
        if os.geteuid() != 0:
            return {}
        user = pwd.getpwnam(SERVER_USER)
        os.chown(self.root, user.pw_uid, user.pw_gid)
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": self.root}

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URI of ``database`` on this server."""
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresCluster:
        """initdb, start the server, and wait until it accepts connections."""
        bin_dir = postgres_bin_dir()
        drop = self._as_server_user()
        initdb = [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SERVER_USER]
        subprocess.run(
            [*initdb, "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C"],
            check=True,
            capture_output=True,
            timeout=120,
            **drop,
        )
        command = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        command += ["-k", str(self.root)]
        for key, value in SETTINGS.items():
            command += ["-c", f"{key}={value}"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **drop
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.logs()}") from None
                time.sleep(0.1)

    def create_database(self) -> str:
        """A new empty database; returns its DSN."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def logs(self) -> str:
        """The server's log so far."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT) by PID, SIGKILL if it lingers; remove the files. Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL server for the whole test session."""
    cluster = PostgresCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def postgres_dsn(postgres: PostgresCluster) -> str:
    """The DSN of a fresh database for this test."""
    return postgres.create_database()


__all__ = ["PostgresCluster", "postgres", "postgres_bin_dir", "postgres_dsn"]
