"""Per-stream limits in the receiver: the idle timer, token expiry, id lengths."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from sluice.core import reasons
from sluice.ops.auth import TokenAuth, TokenConfig, token_digest
from sluice.v1.ingest_pb2 import Ack, AckStatus
from sluice.v1.ingest_pb2_grpc import IngestStub
from tests.support.sinks import RecordingSink
from tests.unit.frontdoors.receiver.receiver_helpers import message, start

OK = AckStatus.ACK_STATUS_OK


async def test_an_idle_stream_ends_but_a_full_window_is_not_idle() -> None:
    sink = RecordingSink(hold=True)
    server, harness = await start(sink, inflight_per_stream=2, idle_stream_timeout_s=0.3)
    try:
        async with grpc.aio.insecure_channel(harness.target) as channel:
            call = IngestStub(channel).Stream()
            await call.write(message(1))
            await call.write(message(2))
            await asyncio.wait_for(sink.wait_for(2), 5)
            await asyncio.sleep(0.8)  # the server is not reading: its window is full
            sink.hold = False
            sink.release()
            await call.write(message(3))  # still read: the stream was not ended as idle
            acks = [await asyncio.wait_for(call.read(), 5) for _ in range(3)]
            assert sorted(ack.seq for ack in acks) == [1, 2, 3]
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await asyncio.wait_for(call.read(), 5)
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "0.3s" in caught.value.details()
    finally:
        await server.stop(None)


async def test_a_stream_ends_unauthenticated_when_its_token_expires_after_its_acks() -> None:
    expires = datetime.now(UTC) + timedelta(seconds=0.5)
    token = TokenConfig(tenant="t", sha256=token_digest("tok"), expires_at=expires)
    sink = RecordingSink(hold=True)
    server, harness = await start(sink, auth=TokenAuth([token]))
    try:
        async with grpc.aio.insecure_channel(harness.target) as channel:
            call = IngestStub(channel).Stream(metadata=(("authorization", "Bearer tok"),))
            await call.write(message(1))
            await asyncio.wait_for(sink.wait_for(1), 5)
            await asyncio.sleep(0.7)
            sink.release()
            ack: Ack = await asyncio.wait_for(call.read(), 5)
            assert (ack.seq, ack.status) == (1, OK)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await asyncio.wait_for(call.read(), 5)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "expired" in caught.value.details()
    finally:
        await server.stop(None)


@pytest.mark.parametrize(
    ("session_id", "source_id", "status", "reason"),
    [
        ("s" * 16, "g" * 16, OK, ""),
        ("s" * 17, "g", AckStatus.ACK_STATUS_REJECTED, reasons.SESSION_ID_INVALID),
        ("s", "g" * 17, AckStatus.ACK_STATUS_REJECTED, reasons.SOURCE_ID_INVALID),
    ],
)
async def test_ids_longer_than_the_limit_reject_the_batch(
    session_id: str, source_id: str, status: int, reason: str
) -> None:
    server, harness = await start(RecordingSink(), max_id_length=16)
    try:
        async with grpc.aio.insecure_channel(harness.target) as channel:
            batch = message(1, session=session_id)
            batch.source_id = source_id
            ack = await IngestStub(channel).Push(batch, timeout=5)
            assert (ack.status, ack.reason) == (status, reason)
        rejected = harness.metrics.registry.get_sample_value(
            "sluice_readings_rejected_total", {"reason": reason}
        )
        assert rejected == (1.0 if reason else None)
    finally:
        await server.stop(None)


async def test_a_batch_refused_for_an_id_is_not_remembered() -> None:
    """Nothing of it was produced: the same (session_id, seq) with a valid id is then
    produced and answered on its own, and remembered from there on."""
    sink = RecordingSink()
    server, harness = await start(sink, max_id_length=16)
    try:
        async with grpc.aio.insecure_channel(harness.target) as channel:
            push = IngestStub(channel).Push
            refused = message(1)
            refused.source_id = "g" * 17
            first = await push(refused, timeout=5)
            corrected = await push(message(1), timeout=5)
            resent = await push(message(1), timeout=5)
        assert (first.status, first.reason) == (
            AckStatus.ACK_STATUS_REJECTED,
            reasons.SOURCE_ID_INVALID,
        )
        assert corrected.status == OK
        assert resent == corrected
        assert len(sink.batches) == 1
    finally:
        await server.stop(None)
