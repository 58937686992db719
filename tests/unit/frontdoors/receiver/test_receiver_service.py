"""The receiver through a real gRPC server on a loopback port, against test sinks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from sluice.core import reasons
from sluice.core.errors import Unavailable
from sluice.v1.ingest_pb2 import Ack, AckStatus
from sluice.v1.ingest_pb2_grpc import IngestStub
from tests.support.sinks import FailingSink, RecordingSink
from tests.unit.frontdoors.receiver.receiver_helpers import Harness, message, start

OK = AckStatus.ACK_STATUS_OK


@pytest.fixture
async def holding() -> AsyncIterator[tuple[RecordingSink, Harness]]:
    sink = RecordingSink(hold=True)
    server, harness = await start(sink, inflight_per_stream=4)
    yield sink, harness
    sink.release()
    await server.stop(None)


async def open_stream(target: str) -> tuple[grpc.aio.Channel, Any]:
    channel = grpc.aio.insecure_channel(target)
    return channel, IngestStub(channel).Stream()


async def test_batches_are_pipelined_and_acks_follow_delivery_order(
    holding: tuple[RecordingSink, Harness],
) -> None:
    sink, harness = holding
    channel, call = await open_stream(harness.target)
    async with channel:
        for seq in range(1, 5):
            await call.write(message(seq))
        await asyncio.wait_for(sink.wait_for(4), 5)  # all four in flight at once
        for index in (3, 1, 0, 2):
            sink.release(index)
            ack: Ack = await asyncio.wait_for(call.read(), 5)
            assert (ack.seq, ack.status) == (index + 1, OK)
        await call.done_writing()
        assert await call.read() is grpc.aio.EOF
        assert await call.code() == grpc.StatusCode.OK


async def test_a_full_window_stops_reading(holding: tuple[RecordingSink, Harness]) -> None:
    sink, harness = holding
    channel, call = await open_stream(harness.target)
    async with channel:
        for seq in range(1, 7):
            await call.write(message(seq))
        await asyncio.wait_for(sink.wait_for(4), 5)
        await asyncio.sleep(0.3)
        assert len(sink.batches) == 4, "the server read past its in-flight window"
        sink.release(0)
        assert (await asyncio.wait_for(call.read(), 5)).seq == 1
        await asyncio.wait_for(sink.wait_for(5), 5)
        sink.hold = False
        sink.release()
        await call.done_writing()
        seqs = {(await call.read()).seq for _ in range(5)}
        assert seqs == {2, 3, 4, 5, 6}


async def test_drain_acknowledges_what_was_read_then_ends_unavailable(
    holding: tuple[RecordingSink, Harness],
) -> None:
    sink, harness = holding
    channel, call = await open_stream(harness.target)
    async with channel:
        for seq in range(1, 4):
            await call.write(message(seq))
        await asyncio.wait_for(sink.wait_for(3), 5)
        drained = asyncio.create_task(harness.service.drain())
        await asyncio.sleep(0.1)
        assert not drained.done(), "drain must wait for the acks of batches already read"
        sink.release()
        acks = [await asyncio.wait_for(call.read(), 5) for _ in range(3)]
        assert sorted(a.seq for a in acks) == [1, 2, 3]
        await asyncio.wait_for(drained, 5)
        assert await call.code() == grpc.StatusCode.UNAVAILABLE
        assert await call.details() == "draining"


async def test_an_undecodable_message_ends_the_call_after_earlier_acks() -> None:
    sink = RecordingSink()
    server, harness = await start(sink)
    try:
        async with grpc.aio.insecure_channel(harness.target) as channel:
            method = channel.stream_stream(
                "/sluice.v1.Ingest/Stream",
                request_serializer=lambda b: b,
                response_deserializer=Ack.FromString,
            )
            call = method(iter([message(1).SerializeToString(), b"\x0a\xff\xff"]))
            acks: list[Ack] = []
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await collect(call, acks)
            assert [a.seq for a in acks] == [1]
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await server.stop(None)


async def collect(call: Any, into: list[Ack]) -> None:
    async for ack in call:
        into.append(ack)


async def test_a_resend_is_answered_from_memory_and_joins_one_in_flight(
    holding: tuple[RecordingSink, Harness],
) -> None:
    sink, harness = holding
    session = str(uuid.uuid4())
    async with grpc.aio.insecure_channel(harness.target) as channel:
        stub = IngestStub(channel)
        first = asyncio.ensure_future(stub.Push(message(7, session)))
        await asyncio.wait_for(sink.wait_for(1), 5)
        second = asyncio.ensure_future(stub.Push(message(7, session)))
        await asyncio.sleep(0.2)
        sink.release()
        assert await first == await second
        third = await stub.Push(message(7, session))
        assert third.status == OK
        other_session = await asyncio.wait_for(
            asyncio.gather(stub.Push(message(7, "another")), _release_soon(sink)), 5
        )
        assert other_session[0].status == OK
    assert len(sink.batches) == 2, "one produce per (session_id, seq)"


async def _release_soon(sink: RecordingSink) -> None:
    await sink.wait_for(2)
    sink.release()


async def test_a_failed_delivery_is_unavailable_and_not_remembered() -> None:
    sink = FailingSink(Unavailable(reasons.KAFKA_UNAVAILABLE, "broker down", 750))
    server, harness = await start(sink)
    try:
        async with grpc.aio.insecure_channel(harness.target) as channel:
            stub = IngestStub(channel)
            for _ in range(2):
                ack = await stub.Push(message(1))
                assert (ack.status, ack.reason, ack.retry_after_ms) == (
                    AckStatus.ACK_STATUS_UNAVAILABLE,
                    reasons.KAFKA_UNAVAILABLE,
                    750,
                )
        assert len(sink.batches) == 2, "an UNAVAILABLE answer must not be replayed from memory"
        registry = harness.metrics.registry
        assert registry.get_sample_value("sluice_batches_total", {"status": "UNAVAILABLE"}) == 2
    finally:
        await server.stop(None)


async def test_the_budget_answers_overloaded_when_it_stays_full() -> None:
    sink = RecordingSink(hold=True)
    server, harness = await start(
        sink, queue_max_readings=10, backpressure_timeout_s=0.2, inflight_per_stream=8
    )
    try:
        async with grpc.aio.insecure_channel(harness.target) as channel:
            stub = IngestStub(channel)
            held = asyncio.ensure_future(stub.Push(message(1, readings=10)))
            await asyncio.wait_for(sink.wait_for(1), 5)
            refused = await stub.Push(message(2, readings=5))
            assert (refused.status, refused.reason) == (
                AckStatus.ACK_STATUS_UNAVAILABLE,
                reasons.OVERLOADED,
            )
            assert refused.retry_after_ms > 0
            sink.release()
            assert (await held).status == OK
    finally:
        await server.stop(None)
