"""CheckStage end to end: batch limits, faults, in-place transforms, metrics, lifecycle."""

from __future__ import annotations

import asyncio
import math

import pytest
from process_helpers import NOW, Harness, valid_reading
from prometheus_client import CollectorRegistry

from sluice.core import reasons
from sluice.core.batch import Batch
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.core.errors import BatchRejected
from sluice.ops.metrics import Metrics
from sluice.stages.process.stage import CheckStage
from sluice.v1.ingest_pb2 import ReadingBatch
from tests.support.sinks import RecordingSink, readings_after_checks


async def test_a_mixed_batch_is_handed_on_with_faults_in_index_order(harness: Harness) -> None:
    readings = [
        valid_reading(value=math.nan),
        valid_reading(value=212.0, unit="°F"),
        valid_reading(device_id="a b", unit="C"),
        valid_reading(),
        valid_reading(tags={"": "x"}),
    ]
    batch = await harness.run(*readings)
    assert [(f.index, f.reason) for f in batch.faults] == [
        (0, reasons.VALUE_NOT_FINITE),
        (2, reasons.DEVICE_ID_INVALID),
        (4, reasons.TAG_INVALID),
    ]
    assert batch.accepted == 2
    assert batch.changed is True


async def test_accepted_readings_are_transformed_in_place_and_rejected_ones_left_alone(
    harness: Harness,
) -> None:
    sent = [
        valid_reading(value=212.0, unit="°F", time_unix_nano=0, site="x"),
        valid_reading(device_id="a b", value=212.0, unit="°F", time_unix_nano=0, site="x"),
        valid_reading(value=212.0, unit="°F", location={"lat": 99.0, "lon": 0.0}, geohash="g"),
    ]
    batch = await harness.run(*sent)
    stored = readings_after_checks(batch)
    assert (stored[0].value, stored[0].unit, stored[0].time_unix_nano, stored[0].site) == (
        100.0,
        "°C",
        NOW,
        "",
    )
    assert [r.SerializeToString() for r in stored[1:]] == [r.SerializeToString() for r in sent[1:]]


async def test_a_batch_with_no_valid_reading_is_still_handed_on(harness: Harness) -> None:
    batch = await harness.run(valid_reading(metric="X"), valid_reading(value=math.inf))
    assert batch.accepted == 0
    assert batch.changed is False
    assert [f.reason for f in batch.faults] == [reasons.METRIC_INVALID, reasons.VALUE_NOT_FINITE]
    assert harness.next.batches == [batch]


async def test_an_empty_batch_is_handed_on(harness: Harness) -> None:
    batch = await harness.run()
    assert (batch.faults, batch.accepted, batch.changed) == ([], 0, False)


async def test_a_batch_at_both_limits_passes(harness: Harness) -> None:
    readings = [valid_reading(), valid_reading()]
    size = len(ReadingBatch(seq=7, source_id="gw-1", readings=readings).SerializeToString())
    harness.build(ChecksConfig(max_readings_per_batch=2, max_batch_bytes=size))
    batch = await harness.run(*readings)
    assert batch.accepted == 2


async def test_a_batch_over_the_byte_limit_is_rejected_whole(harness: Harness) -> None:
    harness.build(ChecksConfig(max_batch_bytes=100))
    with pytest.raises(BatchRejected) as raised:
        await harness.run(valid_reading(), raw=b"x" * 101)
    assert raised.value.reason == reasons.BATCH_TOO_LARGE
    assert raised.value.message == (
        "the batch is 101 bytes, the limit is checks.max_batch_bytes=100"
    )
    assert harness.next.batches == []


async def test_a_batch_over_the_reading_limit_is_rejected_whole(harness: Harness) -> None:
    harness.build(ChecksConfig(max_readings_per_batch=2))
    with pytest.raises(BatchRejected) as raised:
        await harness.run(valid_reading(), valid_reading(), valid_reading(value=math.nan))
    assert raised.value.reason == reasons.BATCH_TOO_LARGE
    assert raised.value.message == (
        "the batch has 3 readings, the limit is checks.max_readings_per_batch=2"
    )
    assert harness.next.batches == []
    assert harness.rejected(reasons.VALUE_NOT_FINITE) == 0.0


async def test_rejected_readings_are_counted_per_reason(harness: Harness) -> None:
    harness.build()
    await harness.run(
        valid_reading(value=math.nan),
        valid_reading(value=math.nan),
        valid_reading(device_id=""),
        valid_reading(),
    )
    await harness.run(valid_reading(value=math.inf))
    assert harness.rejected(reasons.VALUE_NOT_FINITE) == 3.0
    assert harness.rejected(reasons.DEVICE_ID_INVALID) == 1.0
    assert harness.rejected(reasons.TAG_INVALID) == 0.0
    assert harness.rejected(reasons.BATCH_TOO_LARGE) is None


async def test_the_clock_is_read_once_per_batch() -> None:
    reads: list[int] = []

    def clock() -> int:
        reads.append(NOW)
        return NOW

    stage = CheckStage(
        ChecksConfig(),
        TransformsConfig(),
        Metrics(CollectorRegistry()),
        RecordingSink(hold=True),
        clock=clock,
    )
    message = ReadingBatch(readings=[valid_reading(time_unix_nano=0) for _ in range(5)])
    batch = Batch(
        tenant="acme",
        raw=message.SerializeToString(),
        parsed=message,
        received_unix_ns=NOW,
        received_monotonic=0.0,
        done=asyncio.get_running_loop().create_future(),
    )
    await stage.consume(batch)
    assert len(reads) == 1
    assert {r.time_unix_nano for r in message.readings} == {NOW}


async def test_shutdown_is_idempotent_and_safe_without_start(harness: Harness) -> None:
    stage = harness.build()
    await stage.shutdown()
    await stage.shutdown()
    await stage.start()
    await stage.shutdown()


async def test_start_without_a_registry_needs_nothing(harness: Harness) -> None:
    stage = harness.build()
    await stage.start()
    batch = await harness.run(valid_reading())
    assert batch.faults == []
    assert batch.accepted == 1
