"""Sluice behind the floor's stream (``benchmarks/baselines/sluice_behind_floor.py``) against a
real broker: the floor's stream handling, with Sluice's own admission and pipeline doing the
work, so that the bench can tell the stream session's cost from the pipeline's."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from benchmarks.procs import Launched
from benchmarks.workloads import WORKLOADS, BatchFactory, BatchHeader
from sluice.core.netutil import free_port
from sluice.core.record_contract import DEFAULT_TOPIC
from sluice.embedded.broker import TansuBroker
from sluice.v1.ingest_pb2 import Ack, AckStatus
from tests.support.brokers import consume_records, headers_of
from tests.support.loadruns import drive_briefly

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server(tansu: TansuBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    target = f"127.0.0.1:{free_port()}"
    log = Path(tmp_path_factory.mktemp("behind-floor")) / "server.log"
    command = [sys.executable, "-m", "benchmarks.baselines.sluice_behind_floor"]
    launched = Launched([*command, "--listen", target, "--bootstrap", tansu.bootstrap], log, None)
    try:
        launched.wait_grpc_ready(target)
        yield target
    finally:
        launched.stop()


def test_a_resent_batch_is_answered_by_sluices_dedup_cache_and_produced_once(
    server: str, tansu: TansuBroker
) -> None:
    body = BatchFactory(WORKLOADS["plain"]).bodies(1, 10)[0]
    raw = BatchHeader("gateway-1", "resent-session").encode(7, body)

    with grpc.insecure_channel(server) as channel:
        stream = channel.stream_stream(
            "/sluice.v1.Ingest/Stream", response_deserializer=Ack.FromString
        )
        acks = list(stream(iter([raw, raw]), timeout=30))

    assert [ack.seq for ack in acks] == [7, 7]
    assert acks[0] == acks[1]
    assert acks[0].status in (AckStatus.ACK_STATUS_OK, AckStatus.ACK_STATUS_PARTIAL)
    records = [
        record
        for record in consume_records(tansu.bootstrap, DEFAULT_TOPIC)
        if headers_of(record)["sluice_session"] == "resent-session"
    ]
    assert len(records) == 1


def test_every_batch_of_a_load_run_is_answered_after_delivery(server: str) -> None:
    report = drive_briefly(server)

    assert set(report.statuses) <= {"ACK_STATUS_OK", "ACK_STATUS_PARTIAL"}
