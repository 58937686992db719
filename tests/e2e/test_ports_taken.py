"""Every Sluice process whose port is taken (`serve`, `dev`, `rollup`, `query`) says which
listener and which key, and exits 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.core.netutil import free_port

pytestmark = pytest.mark.e2e


def sluice(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sluice", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture
def taken() -> Iterator[str]:
    """A loopback address another socket listens on (without SO_REUSEPORT)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield f"127.0.0.1:{holder.getsockname()[1]}"


@pytest.mark.parametrize(
    ("key", "environ"),
    [
        ("server.listen", {"SLUICE__SERVER__LISTEN": "{taken}"}),
        ("ops.listen", {"SLUICE__OPS__LISTEN": "{taken}"}),
        ("http.listen", {"SLUICE__HTTP__ENABLED": "true", "SLUICE__HTTP__LISTEN": "{taken}"}),
    ],
)
def test_a_taken_port_is_named_with_its_key(key: str, environ: dict[str, str], taken: str) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SLUICE")}
    env |= {
        "SLUICE__SERVER__LISTEN": "127.0.0.1:0",
        "SLUICE__OPS__LISTEN": "127.0.0.1:0",
        "SLUICE__HTTP__LISTEN": "127.0.0.1:0",
        "SLUICE__KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "SLUICE__SPOOL__ENABLED": "false",
    }
    env |= {name: value.format(taken=taken) for name, value in environ.items()}

    done = sluice("serve", env=env)

    assert done.returncode == 1
    assert f"cannot listen on {taken} ({key})" in done.stderr
    assert "Traceback" not in done.stderr


def test_sluice_dev_names_a_taken_port_too(taken: str, tmp_path: Path) -> None:
    config = tmp_path / "dev.yaml"
    config.write_text(f"ops:\n  listen: {taken}\n", encoding="utf-8")

    done = sluice("dev", "--config", str(config), "--duration", "5")

    assert done.returncode == 1
    assert f"sluice dev: cannot listen on {taken} (ops.listen)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("command", "key"),
    [("query", "query.listen"), ("query", "query.ops_listen"), ("rollup", "rollup.ops_listen")],
)
def test_the_downstream_commands_name_a_taken_port_too(
    command: str, key: str, taken: str, tmp_path: Path
) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SLUICE")}
    env |= {
        "SLUICE__ROLLUP__STORE__SQLITE_PATH": str(tmp_path / "rollup.db"),
        "SLUICE__KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "SLUICE__QUERY__LISTEN": "127.0.0.1:0",
        "SLUICE__QUERY__OPS_LISTEN": "127.0.0.1:0",
        "SLUICE__ROLLUP__OPS_LISTEN": "127.0.0.1:0",
        f"SLUICE__{key.upper().replace('.', '__')}": taken,
    }

    done = sluice(command, env=env)

    assert done.returncode == 1
    assert f"sluice {command}: cannot listen on {taken} ({key})" in done.stderr
    assert "Traceback" not in done.stderr
