"""The floor baseline (``benchmarks/baselines/floor.py``) against a real broker: it answers
every batch only once its records are in Kafka, and those records follow Sluice's record
contract, so that (a)/floor compares Sluice with the same work done and nothing else."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.baselines.frozen import (
    DeadLetterBudget,
    FloorBatch,
    ack_for_batch,
    dead_letter_record,
    readings_record,
)
from benchmarks.procs import Launched
from sluice.core.config.kafka import KafkaConfig
from sluice.core.netutil import free_port
from sluice.core.record_contract import DEFAULT_DLQ_TOPIC, DEFAULT_TOPIC
from sluice.delivery.kafka.records import dead_letter_record as dead_letter
from sluice.delivery.kafka.records import readings_records
from sluice.embedded.broker import TansuBroker
from sluice.frontdoors.receiver.acks import ack_for_batch as sluice_ack
from sluice.v1.ingest_pb2 import ReadingBatch, RejectedBatch
from tests.support.batches import TRACEPARENT, fault, make_batch, reading
from tests.support.brokers import consume_records, headers_of
from tests.support.loadruns import drive_briefly

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def floor(tansu: TansuBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    target = f"127.0.0.1:{free_port()}"
    log = Path(tmp_path_factory.mktemp("floor")) / "floor.log"
    command = [sys.executable, "-m", "benchmarks.baselines.floor", "--listen", target]
    server = Launched([*command, "--bootstrap", tansu.bootstrap], log, None)
    try:
        server.wait_grpc_ready(target)
        yield target
    finally:
        server.stop()


def test_every_batch_is_answered_after_its_records_are_in_kafka(
    floor: str, tansu: TansuBroker
) -> None:
    report = drive_briefly(floor)
    assert set(report.statuses) <= {"ACK_STATUS_OK", "ACK_STATUS_PARTIAL"}

    # Every batch holds accepted readings, so each has exactly one readings record.
    records = consume_records(tansu.bootstrap, DEFAULT_TOPIC, min_records=report.sent_batches)
    assert len(records) == report.sent_batches
    sample = records[-1]
    headers = headers_of(sample)
    assert headers["ce_type"] == "sluice.v1.ReadingBatch"
    assert headers["ce_id"] == f"{headers['sluice_session']}:{headers['sluice_seq']}:0"
    assert headers["traceparent"].startswith("00-")
    assert headers["sluice_parts"] == "1"
    assert ReadingBatch.FromString(sample.value()).readings

    # The report counts statuses in its measured window only; every PARTIAL among them has
    # its dead-letter record (a second of load stays inside the dead-letter cap's burst).
    partial = report.statuses.get("ACK_STATUS_PARTIAL", 0)
    assert partial > 0  # 0.5% of plain readings fail: ~40% of 100-reading batches
    dead = consume_records(tansu.bootstrap, DEFAULT_DLQ_TOPIC, min_records=partial)
    assert partial <= len(dead) < len(records)
    assert headers_of(dead[0])["ce_type"] == "sluice.v1.RejectedBatch"
    assert RejectedBatch.FromString(dead[0].value()).readings


@pytest.mark.parametrize("faults", [(), (1,), (0, 1, 2)])
async def test_the_floors_frozen_records_and_ack_are_sluices_of_today(
    faults: tuple[int, ...],
) -> None:
    batch = make_batch(
        [reading("a"), reading("b"), reading("c")], faults=[fault(i) for i in faults]
    )
    frozen = FloorBatch(batch.tenant, batch.raw, batch.parsed, batch.received_unix_ns, TRACEPARENT)
    frozen.faults, frozen.accepted, frozen.value = batch.faults, batch.accepted, batch.value
    config = KafkaConfig()

    theirs = readings_records(batch, config) + ([dead_letter(batch, config)] if faults else [])
    ours = [
        readings_record(frozen, config.topic),
        *([dead_letter_record(frozen, config.dlq_topic)] if faults else []),
    ]

    assert [(r.topic, r.key, r.value, r.headers) for r in theirs] == [
        (r.topic, r.key, r.value, r.headers) for r in ours if r is not None
    ]
    assert ack_for_batch(frozen) == sluice_ack(batch)


def test_the_floors_dead_letters_are_capped_as_sluices_are_by_default() -> None:
    budget = DeadLetterBudget(rate=100.0, burst=1000.0)

    allowed = sum(budget.allow() for _ in range(1500))

    assert 1000 <= allowed < 1010  # the burst, and what 100/s refills meanwhile
