"""A Node gateway built from protos/ alone streams to a real ``sluice serve`` and a real broker.

tests/node/client.js uses @grpc/grpc-js and @grpc/proto-loader (pinned in tools/) and prints
a JSON summary of the Acks it received; these tests check it against the wire contract.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.core.netutil import free_port
from sluice.embedded.broker import TansuBroker
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "tests" / "node" / "client.js"
CLIENT_TIMEOUT_S = 60.0
BATCHES = 20
READINGS = 50


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


@pytest.fixture
def target(tansu: TansuBroker, tmp_path: Path) -> Iterator[str]:
    """A ready ``sluice serve`` process producing to the module's broker."""
    with SluiceServer({"kafka": {"bootstrap_servers": tansu.bootstrap}}, tmp_path) as server:
        yield server.target


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
    result = run_client("--target", f"127.0.0.1:{free_port()}", "--batches", "1")
    assert result.returncode == 1
    assert "Stream failed: UNAVAILABLE" in result.stderr
    assert json.loads(result.stdout)["error"]["code"] == "UNAVAILABLE"
