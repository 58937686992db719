"""The native load generator against a real ``sluice serve`` and broker: every batch it
sends is acknowledged, and nothing goes wrong. Correctness only: no rate is asserted.

Also the pinned workloads it sends: what the batches hold, and the per-send header.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest

from benchmarks.loadgen import LoadConfig, percentile, run_load
from benchmarks.workloads import BAD_DEVICE_ID, DEVICES, WORKLOADS, BatchFactory, BatchHeader
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.embedded.broker import TansuBroker
from sluice.stages.process.checker import ReadingChecker
from sluice.v1.ingest_pb2 import Reading, ReadingBatch
from tests.support.servers import SluiceServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

PROCESSED = {"ACK_STATUS_OK", "ACK_STATUS_PARTIAL"}


@pytest.fixture(scope="module")
def server(tansu: TansuBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceServer]:
    workdir = tmp_path_factory.mktemp("loadgen")
    config = {"kafka": {"bootstrap_servers": tansu.bootstrap}, "logging": {"level": "WARNING"}}
    with SluiceServer(config, workdir) as running:
        yield running


@pytest.mark.parametrize(
    ("workload", "batch_size", "rate"),
    [("plain", 100, None), ("rich", 20, None), ("plain", 1, 2_000.0)],
)
def test_every_batch_sent_is_acknowledged(
    server: SluiceServer, workload: str, batch_size: int, rate: float | None
) -> None:
    config = LoadConfig(
        target=server.target,
        workload=workload,
        batch_size=batch_size,
        processes=2,
        streams=2,
        window=4,
        duration_s=1.5,
        warmup_s=0.3,
        rate=rate,
    )
    report = run_load(config)
    assert report.errors == []
    assert report.sent_batches > 0
    assert report.acked_batches == report.sent_batches
    assert set(report.statuses) <= PROCESSED
    assert report.batches == sum(report.statuses.values())
    assert report.readings == report.batches * batch_size
    latency = report.latency_ms
    assert 0 < latency["p50"] <= latency["p99"] <= latency["p99.9"] <= latency["max"]


def test_the_worker_runs_with_the_batch_scheduling_policy(server: SluiceServer) -> None:
    assert server.process is not None
    assert os.sched_getscheduler(server.process.pid) == os.SCHED_BATCH


def test_an_unreachable_target_is_reported_as_errors() -> None:
    config = LoadConfig(
        target="127.0.0.1:1", processes=1, streams=1, duration_s=0.2, connect_timeout_s=0.5
    )
    report = run_load(config)
    assert report.errors
    assert report.readings == 0


@pytest.mark.parametrize(
    ("name", "located", "foreign", "invalid"),
    [("plain", 0.0, 0.0, 0.005), ("rich", 0.2, 0.1, 0.02)],
)
def test_a_workload_holds_what_it_promises(
    name: str, located: float, foreign: float, invalid: float
) -> None:
    factory = BatchFactory(WORKLOADS[name], seed=3)
    readings = [
        reading
        for body in factory.bodies(40, 500)
        for reading in ReadingBatch.FromString(body).readings
    ]
    count = len(readings)
    assert count == 20_000
    assert {len(reading.tags) for reading in readings} == {WORKLOADS[name].tags}
    devices = {reading.device_id for reading in readings}
    assert len(devices) <= DEVICES + 1  # the invalid device id is one more
    with_location = Counter(reading.HasField("location") for reading in readings)
    assert math.isclose(with_location[True] / count, located, abs_tol=0.04)
    # A device is located or not, and always at the same place.
    places = {
        (r.device_id, r.location.lat, r.location.lon)
        for r in readings
        if r.device_id != BAD_DEVICE_ID
    }
    assert len({device for device, *_ in places}) == len(places)
    checker = ReadingChecker(ChecksConfig(), TransformsConfig())
    message = ReadingBatch(readings=readings)
    faults, _, _ = checker.check_message(message, factory_now(readings))
    assert math.isclose(len(faults) / count, invalid, abs_tol=invalid / 3)
    foreign_units = sum(reading.unit in {"°F", "fraction", "kPa", "mV"} for reading in readings)
    assert math.isclose(foreign_units / count, foreign, abs_tol=0.02)


def factory_now(readings: Sequence[Reading]) -> int:
    """A receipt time just after the readings' newest time."""
    return max(reading.time_unix_nano for reading in readings) + 1_000_000


def test_a_header_makes_a_batch_of_a_body() -> None:
    body = BatchFactory(WORKLOADS["plain"]).body(3)
    header = BatchHeader("gateway-7", "session-1")
    for seq in (1, 300, 2**40):
        batch = ReadingBatch.FromString(header.encode(seq, body))
        assert (batch.seq, batch.source_id, batch.session_id) == (seq, "gateway-7", "session-1")
        assert len(batch.readings) == 3


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert percentile(ordered, 0.5) == 50.0
    assert percentile(ordered, 0.99) == 99.0
    assert percentile(ordered, 1.0) == 100.0
    assert percentile([], 0.5) == 0.0
