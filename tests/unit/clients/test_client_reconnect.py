"""Reconnects: drain and connection loss resend what is unacknowledged; final statuses raise."""

import socket
from typing import Any

import grpc
import pytest
from scripted_ingest import ScriptedIngest, ScriptedStream, ack_all, hold_all, serve
from sdk_helpers import FAST_BACKOFF, reading

from sluice.v1.ingest_pb2 import ACK_STATUS_OK, ReadingBatch
from sluice_client import CallFailed, ClientClosed, ConnectError, IngestClient

ONE_PER_BATCH = {"max_batch_readings": 1, "linger_s": 60.0, "backoff": FAST_BACKOFF}


async def test_after_draining_only_unacknowledged_batches_are_resent_in_seq_order(
    double: ScriptedIngest, target: str
) -> None:
    def drain_first_stream(stream: ScriptedStream, batch: ReadingBatch) -> None:
        if stream.index > 0 or batch.seq in (1, 2, 4):
            stream.ok(batch)
        elif batch.seq == 5:
            stream.end(grpc.StatusCode.UNAVAILABLE, "draining")

    double.responder = drain_first_stream
    async with IngestClient(target, max_inflight=8, **ONE_PER_BATCH) as client:
        await client.send_many(reading(n) for n in range(1, 6))
        await client.flush()
    assert double.seqs(stream=0) == [1, 2, 3, 4, 5]
    assert double.seqs(stream=1) == [3, 5]
    assert {r.batch.session_id for r in double.received} == {client.session_id}
    resent = [r.batch for r in double.received if r.stream == 1]
    assert [b.readings[0].device_id for b in resent] == ["dev-3", "dev-5"]
    stats = client.stats
    assert (stats.reconnects, stats.resends, stats.batches_acked) == (1, 2, 5)


async def test_after_a_lost_connection_unacknowledged_batches_are_resent() -> None:
    first = ScriptedIngest(responder=hold_all)
    async with serve(first) as target:
        client = IngestClient(target, max_inflight=8, **ONE_PER_BATCH)
        await client.start()
        await client.send_many(reading(n) for n in range(1, 4))
        await first.wait_for(lambda: len(first.received) == 3)
        port = int(target.rsplit(":", 1)[1])
    second = ScriptedIngest(responder=ack_all)
    async with serve(second, port=port):
        await client.flush()
        await client.close()
    assert second.seqs() == [1, 2, 3]
    assert {r.batch.session_id for r in second.received} == {client.session_id}
    assert client.stats.reconnects >= 1


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    ],
)
async def test_a_final_status_surfaces_as_an_exception(
    double: ScriptedIngest, target: str, code: grpc.StatusCode
) -> None:
    double.on_open = lambda stream: stream.end(code, "no")
    client = IngestClient(target, token="wrong", **ONE_PER_BATCH)
    await client.start()
    await client.send(reading(1))
    with pytest.raises(CallFailed) as raised:
        await client.flush()
    assert (raised.value.code, raised.value.details) == (code, "no")
    with pytest.raises(CallFailed):
        await client.send(reading(2))
    with pytest.raises(CallFailed):
        await client.close()
    assert len(double.streams) == 1
    assert client.failure is raised.value


async def test_too_many_streams_is_retried_with_backoff(
    double: ScriptedIngest, target: str
) -> None:
    def refuse_twice(stream: ScriptedStream) -> None:
        if stream.index < 2:
            stream.end(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many streams")

    double.on_open = refuse_twice
    async with IngestClient(target, **ONE_PER_BATCH) as client:
        await client.send(reading(1))
        await client.flush()
    assert client.stats.reconnects >= 2
    assert double.seqs(stream=len(double.streams) - 1) == [1]


async def test_every_call_carries_the_bearer_token_and_extra_metadata(
    double: ScriptedIngest, target: str
) -> None:
    async with IngestClient(target, token="s3cret", metadata=[("x-gateway", "gw-1")]) as client:
        await client.send(reading(1))
        await client.flush()
        await client.push(ReadingBatch(readings=[reading(2)]))
    assert double.streams[0].metadata["authorization"] == "Bearer s3cret"
    assert double.streams[0].metadata["x-gateway"] == "gw-1"


class Stamping:
    """Adds ``x-stamp`` to a call and records its method, in ``seen``."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def stamped(self, details: Any) -> Any:
        method = details.method
        self.seen.append(method.decode() if isinstance(method, bytes) else method)
        metadata = grpc.aio.Metadata(*(details.metadata or ()), ("x-stamp", "on"))
        return details._replace(metadata=metadata)


# grpc.aio files each interceptor under one kind of call only: one class per kind.
class StampingStreams(Stamping, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self.stamped(details), requests)


class StampingUnary(Stamping, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self.stamped(details), request)


async def test_interceptors_see_every_call_and_may_add_metadata(
    double: ScriptedIngest, target: str
) -> None:
    seen: list[str] = []
    interceptors = [StampingStreams(seen), StampingUnary(seen)]
    async with IngestClient(target, token="s3cret", interceptors=interceptors) as client:
        await client.send(reading(1))
        await client.flush()
        pushed = await client.push(ReadingBatch(readings=[reading(2)]))
    assert seen == ["/sluice.v1.Ingest/Stream", "/sluice.v1.Ingest/Push"]
    assert double.streams[0].metadata["x-stamp"] == "on"
    assert double.streams[0].metadata["authorization"] == "Bearer s3cret"
    assert double.seqs() == [1]
    assert pushed.status == ACK_STATUS_OK


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_start_with_a_connect_timeout_fails_when_nothing_listens() -> None:
    client = IngestClient(f"127.0.0.1:{unused_port()}")
    with pytest.raises(ConnectError):
        await client.start(connect_timeout_s=0.3)
    with pytest.raises(ClientClosed):
        await client.send(reading(1))
