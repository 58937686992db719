"""Limits against abuse through the real server: each gets a clear status, and a
well-behaved client streaming at the same time is served throughout."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluice.v1.ingest_pb2 import Ack, AckStatus, ReadingBatch
from sluice.v1.ingest_pb2_grpc import IngestStub
from sluice_client import IngestClient
from tests.support.ingest import batch, open_channel, reading, stream
from tests.support.servers import SluiceServer
from tests.support.traffic import aio_channel, all_ok, steady_traffic

pytestmark = pytest.mark.integration

MAX_MESSAGE_BYTES = 64 * 1024
PER_CONNECTION = 3
PER_WORKER = 6


@pytest.fixture(scope="module")
def server(tansu: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceServer]:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "server": {
            "max_message_bytes": MAX_MESSAGE_BYTES,
            "max_streams_per_connection": PER_CONNECTION,
            "max_streams": PER_WORKER,
            "keepalive_min_time_s": 5.0,
            "idle_stream_timeout_s": None,
        },
    }
    with SluiceServer(config, tmp_path_factory.mktemp("limits")) as srv:
        yield srv


def sample(server: SluiceServer, name: str) -> float:
    for family in text_string_to_metric_families(server.metrics_text()):
        for item in family.samples:
            if item.name == name and not item.labels:
                return float(item.value)
    return 0.0


async def first_ack(call: Any, seq: int = 1) -> Ack:
    await call.write(batch([reading("limit-1")], seq))
    ack: Ack = await asyncio.wait_for(call.read(), 10)
    return ack


async def with_steady_traffic(target: str, work: Any) -> list[Ack]:
    """Run ``work`` while a well-behaved client streams; returns that client's Acks."""
    stop = asyncio.Event()
    steady = asyncio.create_task(steady_traffic(target, stop))
    try:
        await asyncio.sleep(0.2)
        await work
    finally:
        stop.set()
    return await asyncio.wait_for(steady, 30)


async def test_an_oversized_message_is_resource_exhausted(server: SluiceServer) -> None:
    async def oversized() -> None:
        async with aio_channel(server.target) as channel:
            call = IngestStub(channel).Stream(timeout=10)
            huge = batch([reading(tags={"k": "x" * 200}) for _ in range(400)], seq=1)
            assert huge.ByteSize() > MAX_MESSAGE_BYTES
            await call.write(huge)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call.read()
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    assert all_ok(await with_steady_traffic(server.target, oversized()))


async def test_streams_per_connection_over_the_limit_are_resource_exhausted(
    server: SluiceServer,
) -> None:
    async def flood_one_connection() -> None:
        async with aio_channel(server.target) as channel:
            stub = IngestStub(channel)
            calls = [stub.Stream(timeout=20) for _ in range(PER_CONNECTION + 2)]
            # The refused ones end as they open; the others wait for a message.
            reads = [asyncio.ensure_future(call.read()) for call in calls]
            done, waiting = await asyncio.wait(reads, timeout=3)
            errors = [task.exception() for task in done]
            assert len(waiting) == PER_CONNECTION, errors
            assert all(isinstance(e, grpc.aio.AioRpcError) for e in errors)
            limit = f"max_streams_per_connection={PER_CONNECTION}"
            for error in errors:
                assert isinstance(error, grpc.aio.AioRpcError)
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert limit in (error.details() or "")
            for seq, call in enumerate(calls, start=1):
                if reads[seq - 1] in waiting:
                    await call.write(batch([reading("limit-1")], seq))
            acks = await asyncio.wait_for(asyncio.gather(*waiting), 10)
            assert all(ack.status == AckStatus.ACK_STATUS_OK for ack in acks)
            for call in calls:
                call.cancel()
            # Their slots come back: the same connection opens a stream again.
            assert (await first_ack(stub.Stream(timeout=10))).status == AckStatus.ACK_STATUS_OK

    assert all_ok(await with_steady_traffic(server.target, flood_one_connection()))


async def test_streams_per_worker_over_the_limit_are_resource_exhausted(
    server: SluiceServer,
) -> None:
    channels = [aio_channel(server.target) for _ in range(PER_WORKER)]
    try:
        # A call starts when it is made. One slot is left for the steady client; the rest
        # are filled, and one more is refused.
        for channel in channels[: PER_WORKER - 1]:
            call = IngestStub(channel).Stream(timeout=20)
            assert (await first_ack(call)).status == AckStatus.ACK_STATUS_OK

        async def one_too_many() -> None:
            # Refused as it opens: nothing is written (grpc.aio would report a write racing
            # the refusal as a local INTERNAL error, hiding the server's status).
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await IngestStub(channels[-1]).Stream(timeout=20).read()
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert f"max_streams={PER_WORKER}" in caught.value.details()

        assert all_ok(await with_steady_traffic(server.target, one_too_many()))
    finally:
        for channel in channels:
            await channel.close(None)


async def test_a_client_pinging_too_often_is_sent_away(server: SluiceServer) -> None:
    pushy = [
        ("grpc.keepalive_time_ms", 100),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]

    async def ping_flood() -> None:
        async with aio_channel(server.target, pushy) as channel:
            call = IngestStub(channel).Stream(timeout=30)
            assert (await first_ack(call)).status == AckStatus.ACK_STATUS_OK
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call.read()
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "too many pings" in caught.value.details().lower()

    assert all_ok(await with_steady_traffic(server.target, ping_flood()))


async def test_an_idle_stream_ends_deadline_exceeded(tansu: Any, tmp_path: Any) -> None:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "server": {"idle_stream_timeout_s": 3.0},
    }
    with SluiceServer(config, tmp_path) as idle_server:
        # Warm the producer up, so that no Ack of the steady client takes near the timeout.
        (warm,) = stream(idle_server.target, [batch([reading("warm-1")], 1)])
        assert warm.status == AckStatus.ACK_STATUS_OK

        async def go_idle() -> None:
            async with aio_channel(idle_server.target) as channel:
                call = IngestStub(channel).Stream(timeout=20)
                assert (await first_ack(call)).status == AckStatus.ACK_STATUS_OK
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call.read()
                assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert "idle_stream_timeout_s" in caught.value.details()

        # The steady client writes every 50 ms for longer than the timeout, and is not idle.
        acks = await with_steady_traffic(idle_server.target, go_idle())
        assert all_ok(acks)
        assert len(acks) > 10


async def test_max_connection_age_drains_and_the_sdk_carries_on(tansu: Any, tmp_path: Any) -> None:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "server": {"max_connection_age_s": 1.0, "max_connection_age_grace_s": 30.0},
    }
    with SluiceServer(config, tmp_path) as aging:
        session = str(uuid.uuid4())
        stop = threading.Event()

        def batches() -> Iterator[ReadingBatch]:
            for seq in range(1, 1000):
                if stop.is_set():
                    return
                yield batch([reading("age-1")], seq, session)
                time.sleep(0.01)

        def read_all() -> tuple[list[Ack], grpc.RpcError]:
            # A sync call with a request iterator: the writes stop quietly when the call
            # ends, so the status read is the server's.
            acks: list[Ack] = []
            with open_channel(aging.target) as channel:
                call = IngestStub(channel).Stream(batches(), timeout=30)
                try:
                    acks.extend(call)
                except grpc.RpcError as error:
                    return acks, error
                finally:
                    stop.set()
            raise AssertionError("the stream did not end with a status")

        acks, error = await asyncio.to_thread(read_all)
        assert (error.code(), error.details()) == (
            grpc.StatusCode.UNAVAILABLE,
            "draining",
        )
        assert all(ack.status == AckStatus.ACK_STATUS_OK for ack in acks)
        # Every batch the server read was acknowledged before the stream ended.
        assert len(acks) == sample(aging, "sluice_readings_received_total") > 10

        sent = 0
        async with IngestClient(aging.target, linger_s=0.01) as client:
            deadline = time.monotonic() + 3.5
            while time.monotonic() < deadline:
                await client.send(reading("age-sdk"))
                sent += 1
                await asyncio.sleep(0.01)
            await client.flush()
            stats = client.stats
        assert stats.reconnects >= 2, "the stream should have aged out and reconnected"
        assert stats.readings_accepted == sent
