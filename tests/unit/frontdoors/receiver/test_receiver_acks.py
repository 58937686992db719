"""The status table: each outcome of a batch maps to exactly one Ack."""

from __future__ import annotations

import asyncio

import pytest

from sluice.core import reasons
from sluice.core.batch import Batch, ReadingFault
from sluice.core.errors import BatchRejected, DeliveryFailed, RateLimited, Unavailable
from sluice.frontdoors.receiver.acks import ack_for_batch, ack_for_error
from sluice.v1.ingest_pb2 import AckStatus, Reading, ReadingBatch

S = AckStatus


def outcome(readings: int, faults: list[int]) -> Batch:
    loop = asyncio.new_event_loop()
    try:
        done: asyncio.Future[None] = loop.create_future()
    finally:
        loop.close()
    message = ReadingBatch(seq=3, readings=[Reading(device_id="d") for _ in range(readings)])
    return Batch(
        tenant="t",
        raw=b"",
        parsed=message,
        received_unix_ns=0,
        received_monotonic=0.0,
        done=done,
        faults=[ReadingFault(i, reasons.VALUE_NOT_FINITE, "value: NaN") for i in faults],
        accepted=readings - len(faults),
    )


@pytest.mark.parametrize(
    ("readings", "faults", "status", "accepted", "reason"),
    [
        (3, [], S.ACK_STATUS_OK, 3, ""),
        (0, [], S.ACK_STATUS_OK, 0, ""),
        (3, [1], S.ACK_STATUS_PARTIAL, 2, ""),
        (2, [0, 1], S.ACK_STATUS_REJECTED, 0, reasons.NO_VALID_READINGS),
    ],
)
def test_durable_batches(
    readings: int, faults: list[int], status: int, accepted: int, reason: str
) -> None:
    ack = ack_for_batch(outcome(readings, faults))
    assert (ack.seq, ack.status, ack.accepted, ack.reason) == (3, status, accepted, reason)
    assert [(r.index, r.reason) for r in ack.rejections] == [
        (i, reasons.VALUE_NOT_FINITE) for i in faults
    ]
    assert ack.retry_after_ms == 0


@pytest.mark.parametrize(
    ("error", "status", "reason", "retry_after_ms"),
    [
        (
            BatchRejected(reasons.BATCH_TOO_LARGE, "too many"),
            S.ACK_STATUS_REJECTED,
            reasons.BATCH_TOO_LARGE,
            0,
        ),
        (
            RateLimited(reasons.RATE_LIMITED_TENANT, "slow down", 250),
            S.ACK_STATUS_RATE_LIMITED,
            reasons.RATE_LIMITED_TENANT,
            250,
        ),
        (
            RateLimited(reasons.RATE_LIMITED_DEVICE, "slow down", 40),
            S.ACK_STATUS_RATE_LIMITED,
            reasons.RATE_LIMITED_DEVICE,
            40,
        ),
        (
            Unavailable(reasons.KAFKA_UNAVAILABLE, "down", 1000),
            S.ACK_STATUS_UNAVAILABLE,
            reasons.KAFKA_UNAVAILABLE,
            1000,
        ),
        (
            Unavailable(reasons.DRAINING, "draining", 100),
            S.ACK_STATUS_UNAVAILABLE,
            reasons.DRAINING,
            100,
        ),
        (
            DeliveryFailed(reasons.DELIVERY_FAILED, "too large"),
            S.ACK_STATUS_UNAVAILABLE,
            reasons.DELIVERY_FAILED,
            1000,
        ),
        (RuntimeError("bug"), S.ACK_STATUS_UNAVAILABLE, reasons.INTERNAL_ERROR, 1000),
    ],
)
def test_refused_batches(
    error: BaseException, status: int, reason: str, retry_after_ms: int
) -> None:
    ack = ack_for_error(9, error)
    assert (ack.seq, ack.status, ack.accepted, ack.reason, ack.retry_after_ms) == (
        9,
        status,
        0,
        reason,
        retry_after_ms,
    )
    assert not ack.rejections
