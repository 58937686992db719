"""Batches are cut by reading count, by encoded bytes and by linger time."""

import uuid

import pytest
from scripted_ingest import ScriptedIngest
from sdk_helpers import eventually, reading

from sluice.v1.ingest_pb2 import ReadingBatch
from sluice_client import IngestClient
from sluice_client.batching import BatchBuilder, reading_field_bytes

LONG_LINGER_S = 60.0


@pytest.mark.parametrize(
    ("max_readings", "count", "expected"),
    [(3, 7, [3, 3]), (1, 2, [1, 1]), (5, 4, []), (4, 8, [4, 4])],
)
def test_builder_cuts_by_count(max_readings: int, count: int, expected: list[int]) -> None:
    builder = BatchBuilder(max_readings=max_readings)
    due = [len(batch) for n in range(count) for batch in builder.add(reading(n))]
    assert due == expected
    assert len(builder) == count - sum(expected)


def test_builder_cuts_before_the_reading_that_would_overflow_the_bytes() -> None:
    size = reading_field_bytes(reading(0))
    builder = BatchBuilder(max_readings=100, max_bytes=2 * size + 1)
    due = [batch for n in range(5) for batch in builder.add(reading(n))]
    devices = [[r.device_id for r in batch] for batch in due]
    assert devices == [["dev-0", "dev-1"], ["dev-2", "dev-3"]]
    assert len(builder) == 1


def test_builder_byte_count_matches_the_encoded_batch() -> None:
    builder = BatchBuilder(max_readings=100)
    readings = [reading(n) for n in range(10)]
    for r in readings:
        builder.add(r)
    assert builder.buffered_bytes == ReadingBatch(readings=readings).ByteSize()


def test_builder_sends_an_oversized_reading_on_its_own() -> None:
    builder = BatchBuilder(max_readings=100, max_bytes=10)
    assert [len(b) for b in builder.add(reading(0))] == [1]
    assert [len(b) for b in builder.add(reading(1))] == [1]
    assert builder.started_at is None


async def test_client_cuts_batches_by_count(double: ScriptedIngest, target: str) -> None:
    async with IngestClient(target, max_batch_readings=3, linger_s=LONG_LINGER_S) as client:
        for n in range(7):
            await client.send(reading(n))
        await double.wait_for(lambda: len(double.received) == 2)
        await client.flush()
    assert double.batch_sizes() == [3, 3, 1]
    assert double.seqs() == [1, 2, 3]


async def test_client_cuts_batches_by_bytes(double: ScriptedIngest, target: str) -> None:
    limit = 2 * reading_field_bytes(reading(0)) + 1
    async with IngestClient(
        target, max_batch_readings=100, max_batch_bytes=limit, linger_s=LONG_LINGER_S
    ) as client:
        await client.send_many(reading(n) for n in range(5))
        await client.flush()
    assert double.batch_sizes() == [2, 2, 1]


async def test_client_sends_a_partial_batch_after_the_linger_time(
    double: ScriptedIngest, target: str
) -> None:
    async with IngestClient(target, max_batch_readings=1000, linger_s=0.05) as client:
        await client.send(reading(0))
        await client.send(reading(1))
        await double.wait_for(lambda: len(double.received) == 1)
        assert double.batch_sizes() == [2]
        await eventually(lambda: client.stats.batches_acked == 1)


async def test_batches_carry_session_and_source(double: ScriptedIngest, target: str) -> None:
    async with IngestClient(target, source_id="gw-7", session_id="s-1", first_seq=41) as client:
        await client.send(reading(0))
        await client.flush()
    batch = double.received[0].batch
    assert (batch.session_id, batch.source_id, batch.seq) == ("s-1", "gw-7", 41)


async def test_each_client_has_its_own_uuid4_session(double: ScriptedIngest, target: str) -> None:
    sessions = []
    for _ in range(2):
        async with IngestClient(target) as client:
            await client.send(reading(0))
        sessions.append(client.session_id)
    assert [r.batch.session_id for r in double.received] == sessions
    assert all(uuid.UUID(session).version == 4 for session in sessions)
    assert sessions[0] != sessions[1]
