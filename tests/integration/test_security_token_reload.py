"""Bearer tokens rotated with SIGHUP on the real server: every worker takes the config file's
new tokens for the calls that follow, an open stream keeps going, a bad config changes
nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from sluice.ops.auth import token_digest
from sluice.v1.ingest_pb2 import AckStatus
from sluice_client import IngestClient
from tests.support.ingest import batch, reading, stream
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.integration

OLD = "old-token-3e1f"
NEW = "new-token-9a77"
RELOADED = "SIGHUP: auth.tokens reloaded"
CONNECTIONS = 8
"""New connections per check: spread over the workers by SO_REUSEPORT."""


def accepted(target: str, token: str) -> bool:
    """True when a stream with ``token`` is answered OK; False when it is UNAUTHENTICATED."""
    metadata = [("authorization", f"Bearer {token}")]
    try:
        acks = stream(target, [batch([reading("rot-1")], seq=1)], timeout=10, metadata=metadata)
    except grpc.RpcError as error:
        refused = error.code()
    else:
        assert [ack.status for ack in acks] == [AckStatus.ACK_STATUS_OK]
        return True
    assert refused == grpc.StatusCode.UNAUTHENTICATED
    return False


def set_tokens(server: SluiceServer, *tokens: str) -> None:
    config = yaml.safe_load(server.config_path.read_text(encoding="utf-8"))
    config["auth"]["tokens"] = [{"tenant": "acme", "sha256": token_digest(t)} for t in tokens]
    server.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")


def wait_for_log(server: SluiceServer, text: str, count: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while server.logs().count(text) < count:
        assert time.monotonic() < deadline, f"{count}x {text!r} not logged:\n{server.logs()}"
        time.sleep(0.05)


def config(tansu: Any) -> dict[str, Any]:
    tokens = [{"tenant": "acme", "sha256": token_digest(OLD)}]
    return {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "auth": {"mode": "token", "tokens": tokens},
    }


@pytest.mark.parametrize("workers", [1, 2])
async def test_sighup_swaps_the_tokens_of_every_worker(
    tansu: Any, tmp_path: Path, workers: int
) -> None:
    with SluiceServer(config(tansu), tmp_path, workers=workers) as server:
        assert accepted(server.target, OLD)
        assert not accepted(server.target, NEW)
        async with IngestClient(server.target, token=OLD) as open_before:
            await open_before.send(reading("rot-open"))
            await open_before.flush()

            set_tokens(server, NEW)
            server.send_signal(signal.SIGHUP)
            wait_for_log(server, RELOADED, count=workers)  # one per worker

            for _ in range(CONNECTIONS):
                assert accepted(server.target, NEW)
                assert not accepted(server.target, OLD)
            await open_before.send(reading("rot-open"))
            await open_before.flush()
            stats = open_before.stats
            assert stats.readings_accepted == 2, "a stream opened before keeps going"
            assert stats.reconnects == 0


def test_an_invalid_config_on_sighup_keeps_the_tokens_in_use(tansu: Any, tmp_path: Path) -> None:
    with SluiceServer(config(tansu), tmp_path) as server:
        server.config_path.write_text("auth: {mode: token, tokens: [{tenant: 7}]}\n")
        server.send_signal(signal.SIGHUP)
        wait_for_log(server, "SIGHUP: the config is invalid, tokens unchanged", count=1)
        assert accepted(server.target, OLD)
        assert not accepted(server.target, NEW)
