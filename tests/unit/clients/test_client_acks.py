"""Acks: the window of unacknowledged batches, out-of-order Acks, resends and rejections."""

import asyncio

import pytest
from scripted_ingest import ScriptedIngest, ScriptedStream, hold_all, ok_ack
from sdk_helpers import FAST_BACKOFF, eventually, reading

from sluice.v1.ingest_pb2 import (
    ACK_STATUS_PARTIAL,
    ACK_STATUS_RATE_LIMITED,
    ACK_STATUS_REJECTED,
    ACK_STATUS_UNAVAILABLE,
    Ack,
    Reading,
    ReadingBatch,
    Rejection,
)
from sluice_client import AckTimeout, IngestClient

ONE_PER_BATCH = {"max_batch_readings": 1, "linger_s": 60.0, "backoff": FAST_BACKOFF}
STILL_BLOCKED_S = 0.2


def ack_later(double: ScriptedIngest, seq: int, stream: int = 0) -> None:
    """Sends the OK Ack of batch ``seq`` that the double held."""
    batch = next(r.batch for r in double.received if r.batch.seq == seq)
    double.streams[stream].send(ok_ack(batch))


async def test_send_waits_while_the_window_is_full(double: ScriptedIngest, target: str) -> None:
    double.responder = hold_all
    async with IngestClient(target, max_inflight=2, **ONE_PER_BATCH) as client:
        await client.send(reading(1))
        await client.send(reading(2))
        third = asyncio.create_task(client.send(reading(3)))
        await double.wait_for(lambda: len(double.received) == 2)
        await asyncio.sleep(STILL_BLOCKED_S)
        assert not third.done()
        assert client.stats.unacknowledged_batches == 2

        ack_later(double, 1)
        await asyncio.wait_for(third, 5)
        await double.wait_for(lambda: double.seqs() == [1, 2, 3])
        ack_later(double, 2)
        ack_later(double, 3)
        await client.flush()
    assert client.stats.batches_acked == 3


async def test_acks_are_matched_by_seq_in_any_order(double: ScriptedIngest, target: str) -> None:
    double.responder = hold_all
    reported: list[tuple[int, str]] = []

    def on_rejection(seq: int, rejection: Rejection, reading: Reading | None) -> None:
        reported.append((seq, reading.device_id if reading else ""))

    async with IngestClient(
        target, max_inflight=4, on_rejection=on_rejection, **ONE_PER_BATCH
    ) as client:
        await client.send_many(reading(n) for n in range(1, 5))
        await double.wait_for(lambda: len(double.received) == 4)
        stream = double.streams[0]
        stream.send(
            Ack(seq=3, status=ACK_STATUS_PARTIAL, rejections=[Rejection(index=0, reason="X")])
        )
        ack_later(double, 1)
        ack_later(double, 4)
        with pytest.raises(AckTimeout):
            await client.close(ack_timeout_s=0.3)
    assert reported == [(3, "dev-3")]
    stats = client.stats
    assert (stats.batches_acked, stats.unacknowledged_batches) == (3, 1)
    assert (stats.readings_accepted, stats.readings_rejected) == (2, 1)


@pytest.mark.parametrize(
    ("status", "counter"),
    [(ACK_STATUS_RATE_LIMITED, "rate_limited"), (ACK_STATUS_UNAVAILABLE, "unavailable")],
)
async def test_not_durable_batches_are_resent_with_the_same_seq_after_retry_after(
    double: ScriptedIngest, target: str, status: int, counter: str
) -> None:
    retry_after_ms = 200
    refused: set[int] = set()

    def refuse_once(stream: ScriptedStream, batch: ReadingBatch) -> None:
        if batch.seq in refused:
            stream.ok(batch)
            return
        refused.add(batch.seq)
        stream.send(Ack(seq=batch.seq, status=status, retry_after_ms=retry_after_ms, reason="R"))

    double.responder = refuse_once
    async with IngestClient(target, **ONE_PER_BATCH) as client:
        await client.send(reading(1))
        await client.flush()
    first, second = double.received
    assert (first.batch, first.stream) == (second.batch, second.stream)
    assert second.at - first.at >= retry_after_ms / 1000
    stats = client.stats
    assert (getattr(stats, counter), stats.resends, stats.batches_acked) == (1, 1, 1)
    assert (stats.readings_accepted, stats.reconnects) == (1, 0)


async def test_an_unknown_ack_status_is_counted_and_taken_as_final(
    double: ScriptedIngest, target: str
) -> None:
    double.responder = lambda stream, batch: stream.send(Ack(seq=batch.seq, status=42, accepted=1))
    async with IngestClient(target, **ONE_PER_BATCH) as client:
        await client.send(reading(1))
        await client.flush()
        await client.send(reading(2))
        await client.flush()
    stats = client.stats
    assert (stats.unknown_status, stats.batches_acked, stats.readings_accepted) == (2, 2, 2)
    assert double.seqs() == [1, 2]


REJECTIONS = [
    Rejection(index=0, reason="VALUE_NOT_FINITE", message="value is NaN"),
    Rejection(index=2, reason="DEVICE_ID_INVALID", message="device_id has spaces"),
]


@pytest.mark.parametrize(
    ("ack", "expected"),
    [
        (
            Ack(status=ACK_STATUS_PARTIAL, accepted=1, rejections=REJECTIONS),
            [("VALUE_NOT_FINITE", "dev-0"), ("DEVICE_ID_INVALID", "dev-2")],
        ),
        (
            Ack(status=ACK_STATUS_REJECTED, accepted=0, rejections=REJECTIONS),
            [("VALUE_NOT_FINITE", "dev-0"), ("DEVICE_ID_INVALID", "dev-2")],
        ),
        (
            Ack(status=ACK_STATUS_REJECTED, accepted=0, reason="BATCH_TOO_LARGE"),
            [
                ("BATCH_TOO_LARGE", "dev-0"),
                ("BATCH_TOO_LARGE", "dev-1"),
                ("BATCH_TOO_LARGE", "dev-2"),
            ],
        ),
    ],
)
async def test_rejections_are_reported_with_their_readings(
    double: ScriptedIngest, target: str, ack: Ack, expected: list[tuple[str, str]]
) -> None:
    reported: list[tuple[int, str, str]] = []

    def answer(stream: ScriptedStream, batch: ReadingBatch) -> None:
        answer_ack = Ack()
        answer_ack.CopyFrom(ack)
        answer_ack.seq = batch.seq
        stream.send(answer_ack)

    def on_rejection(seq: int, rejection: Rejection, reading: Reading | None) -> None:
        assert reading is not None
        reported.append((seq, rejection.reason, reading.device_id))

    double.responder = answer
    async with IngestClient(target, max_batch_readings=3, on_rejection=on_rejection) as client:
        await client.send_many(reading(n) for n in range(3))
        await client.flush()
    assert reported == [(1, reason, device) for reason, device in expected]
    stats = client.stats
    assert stats.readings_rejected == 3 - ack.accepted
    assert sum(stats.rejections_by_reason.values()) == len(expected)
    assert stats.batches_rejected == (1 if ack.status == ACK_STATUS_REJECTED else 0)


async def test_a_failing_rejection_callback_does_not_stop_the_client(
    double: ScriptedIngest, target: str
) -> None:
    def explode(seq: int, rejection: Rejection, reading: Reading | None) -> None:
        raise RuntimeError("callback bug")

    double.responder = lambda stream, batch: stream.send(
        Ack(seq=batch.seq, status=ACK_STATUS_REJECTED, reason="BATCH_TOO_LARGE")
    )
    async with IngestClient(target, on_rejection=explode, **ONE_PER_BATCH) as client:
        await client.send(reading(1))
        await client.flush()
        await client.send(reading(2))
        await client.flush()
    assert client.stats.batches_rejected == 2


async def test_a_stray_ack_is_ignored(double: ScriptedIngest, target: str) -> None:
    def ack_twice(stream: ScriptedStream, batch: ReadingBatch) -> None:
        stream.ok(batch)
        stream.ok(batch)
        stream.send(Ack(seq=999))

    double.responder = ack_twice
    async with IngestClient(target, **ONE_PER_BATCH) as client:
        await client.send(reading(1))
        await client.flush()
        await eventually(lambda: client.stats.stray_acks == 2)
    assert client.stats.batches_acked == 1
