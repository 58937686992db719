"""Sluice behind the floor's stream (``benchmarks/baselines/sluice_behind_floor.py``) against a
real broker: the floor's stream handling, with Sluice's own admission and pipeline doing the
work, so that the bench can tell the stream session's cost from the pipeline's; and the same
with every switchable feature off (``bare_behind_floor.py``), so that it can tell the
features' cost from the path's."""

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


def serve_baseline(module: str, bootstrap: str, log_dir: Path) -> Iterator[str]:
    target = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", f"benchmarks.baselines.{module}"]
    launched = Launched(
        [*command, "--listen", target, "--bootstrap", bootstrap], log_dir / "server.log", None
    )
    try:
        launched.wait_grpc_ready(target)
        yield target
    finally:
        launched.stop()


@pytest.fixture(scope="module")
def server(tansu: TansuBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir = Path(tmp_path_factory.mktemp("behind-floor"))
    yield from serve_baseline("sluice_behind_floor", tansu.bootstrap, log_dir)


@pytest.fixture(scope="module")
def bare_server(tansu: TansuBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir = Path(tmp_path_factory.mktemp("bare-behind-floor"))
    yield from serve_baseline("bare_behind_floor", tansu.bootstrap, log_dir)


def send_twice(target: str, session: str) -> list[Ack]:
    body = BatchFactory(WORKLOADS["plain"]).bodies(1, 10)[0]
    raw = BatchHeader("gateway-1", session).encode(7, body)
    with grpc.insecure_channel(target) as channel:
        stream = channel.stream_stream(
            "/sluice.v1.Ingest/Stream", response_deserializer=Ack.FromString
        )
        return list(stream(iter([raw, raw]), timeout=30))


def records_of(bootstrap: str, session: str) -> list[object]:
    return [
        record
        for record in consume_records(bootstrap, DEFAULT_TOPIC)
        if headers_of(record)["sluice_session"] == session
    ]


def test_a_resent_batch_is_answered_by_sluices_dedup_cache_and_produced_once(
    server: str, tansu: TansuBroker
) -> None:
    acks = send_twice(server, "resent-session")

    assert [ack.seq for ack in acks] == [7, 7]
    assert acks[0] == acks[1]
    assert acks[0].status in (AckStatus.ACK_STATUS_OK, AckStatus.ACK_STATUS_PARTIAL)
    assert len(records_of(tansu.bootstrap, "resent-session")) == 1


def test_with_every_feature_off_a_resent_batch_is_produced_again(
    bare_server: str, tansu: TansuBroker
) -> None:
    acks = send_twice(bare_server, "bare-resent-session")

    assert [ack.seq for ack in acks] == [7, 7]
    assert len(records_of(tansu.bootstrap, "bare-resent-session")) == 2


@pytest.mark.parametrize("served", ["server", "bare_server"])
def test_every_batch_of_a_load_run_is_answered_after_delivery(
    served: str, request: pytest.FixtureRequest
) -> None:
    report = drive_briefly(request.getfixturevalue(served))

    assert set(report.statuses) <= {"ACK_STATUS_OK", "ACK_STATUS_PARTIAL"}
