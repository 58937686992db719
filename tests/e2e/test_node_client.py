"""A Node gateway built from protos/ alone streams to a real ``sluice serve`` and a real broker.

tests/node/client.js uses @grpc/grpc-js and @grpc/proto-loader (pinned in tools/) and prints
a JSON summary of the Acks it received; these tests check it against the wire contract.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.broker import TansuBroker

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "tests" / "node" / "client.js"
SLUICE = Path(sys.executable).parent / "sluice"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
CLIENT_TIMEOUT_S = 60.0
BATCHES = 20
READINGS = 50


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_client(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the Node client; fail (never skip) when node or its packages are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; the Node client needs Node 20+")
    if not (REPO / "tools" / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail("tools/node_modules is missing @grpc/grpc-js: run `make tools`")
    return subprocess.run(
        [node, str(CLIENT), *args],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        check=False,
    )


def ops_status(port: int, path: str) -> int:
    """The HTTP status of GET ``path`` on the ops listener, 0 if nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server we started, then SIGKILL its process group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT_S)
    # The server ran in a session of its own: its group holds it and any workers it forked.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(STOP_TIMEOUT_S)


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    """A fresh Tansu broker for this module."""
    with TansuBroker() as broker:
        yield broker.bootstrap


@pytest.fixture
def target(bootstrap: str, tmp_path: Path) -> Iterator[str]:
    """A ready ``sluice serve`` process producing to the broker; yields its gRPC target."""
    grpc_port, ops_port = free_ports(2)
    config = {
        "server": {"listen": f"127.0.0.1:{grpc_port}"},
        "ops": {"listen": f"127.0.0.1:{ops_port}"},
        "kafka": {"bootstrap_servers": bootstrap},
    }
    config_path = tmp_path / "sluice.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    log_path = tmp_path / "sluice.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(SLUICE), "serve", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while ops_status(ops_port, "/readyz") != 200:
            if process.poll() is not None:
                pytest.fail(
                    f"sluice serve exited with {process.returncode}:\n{log_path.read_text()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"sluice serve not ready in {READY_TIMEOUT_S}s:\n{log_path.read_text()}"
                )
            time.sleep(0.05)
        yield f"127.0.0.1:{grpc_port}"
    finally:
        stop(process)


def stream(target: str, session_id: str) -> dict[str, Any]:
    """Send BATCHES batches of READINGS readings plus one Push; return the client's summary."""
    result = run_client(
        "--target", target,
        "--batches", str(BATCHES),
        "--readings", str(READINGS),
        "--session-id", session_id,
        "--source-id", "node-gateway-1",
    )  # fmt: skip
    assert result.returncode == 0, f"client failed:\n{result.stderr}\n{result.stdout}"
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def assert_all_ok(summary: dict[str, Any]) -> None:
    acks = summary["stream"]["acks_detail"]
    assert sorted(ack["seq"] for ack in acks) == list(range(1, BATCHES + 1))
    assert {(ack["status"], ack["accepted"], ack["rejections"]) for ack in acks} == {
        ("ACK_STATUS_OK", READINGS, 0)
    }
    assert summary["stream"]["accepted_total"] == BATCHES * READINGS
    push = summary["push"]
    assert (push["seq"], push["status"], push["accepted"]) == (
        BATCHES + 1,
        "ACK_STATUS_OK",
        READINGS,
    )


def test_every_streamed_batch_is_acknowledged_ok(target: str) -> None:
    assert_all_ok(stream(target, str(uuid.uuid4())))


def test_resent_batches_are_acknowledged_again(target: str) -> None:
    session_id = str(uuid.uuid4())
    assert_all_ok(stream(target, session_id))
    assert_all_ok(stream(target, session_id))


def test_client_fails_clearly_without_a_server() -> None:
    result = run_client("--target", f"127.0.0.1:{free_ports(1)[0]}", "--batches", "1")
    assert result.returncode == 1
    assert "Stream failed: UNAVAILABLE" in result.stderr
    assert json.loads(result.stdout)["error"]["code"] == "UNAVAILABLE"
