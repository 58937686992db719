"""The native transport baseline (``benchmarks/baselines/native_transport.cc``, grpc's C++
callback API): it answers every batch of a stream with an OK Ack for its seq and reading
count, so that the load generator can drive it exactly as it drives Sluice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from benchmarks.loadgen import STREAM_METHOD
from benchmarks.procs import Launched
from benchmarks.scenarios import NATIVE_TRANSPORT
from benchmarks.workloads import WORKLOADS, BatchFactory, BatchHeader
from sluice.core.netutil import free_port
from sluice.v1.ingest_pb2 import Ack, AckStatus
from tests.support.loadruns import drive_briefly

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert NATIVE_TRANSPORT.exists(), f"{NATIVE_TRANSPORT} is missing: run make native-transport"
    target = f"127.0.0.1:{free_port()}"
    log = Path(tmp_path_factory.mktemp("native")) / "native.log"
    server = Launched([str(NATIVE_TRANSPORT), "--listen", target], log, None)
    try:
        server.wait_grpc_ready(target)
        yield target
    finally:
        assert server.stop() == 0  # SIGTERM stops it cleanly


def test_every_batch_of_a_load_run_is_answered_ok(native: str) -> None:
    report = drive_briefly(native)
    assert set(report.statuses) == {"ACK_STATUS_OK"}


def test_each_ack_names_its_batch_and_counts_its_readings(native: str) -> None:
    header = BatchHeader("source-1", "session-1")
    bodies = BatchFactory(WORKLOADS["rich"]).bodies(3, 7)
    requests = [header.encode(seq, body) for seq, body in enumerate(bodies, start=41)]
    with grpc.insecure_channel(native) as channel:
        stream = channel.stream_stream(STREAM_METHOD, None, Ack.FromString)
        acks = list(stream(iter(requests), timeout=10))
    assert [(ack.seq, ack.status, ack.accepted) for ack in acks] == [
        (41, AckStatus.ACK_STATUS_OK, 7),
        (42, AckStatus.ACK_STATUS_OK, 7),
        (43, AckStatus.ACK_STATUS_OK, 7),
    ]


def test_bytes_that_are_not_a_batch_end_the_stream_invalid_argument(native: str) -> None:
    with grpc.insecure_channel(native) as channel:
        stream = channel.stream_stream(STREAM_METHOD, None, Ack.FromString)
        with pytest.raises(grpc.RpcError) as raised:
            list(stream(iter([b"\x0a\xff"]), timeout=10))  # a length past the end
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
