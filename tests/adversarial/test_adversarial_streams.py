"""Abusive stream patterns while a well-behaved client keeps streaming: a flood of streams
from one client, and streams that never read their Acks (the server's memory stays bounded
and the writers are seen to block)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluice.v1.ingest_pb2 import Ack, AckStatus, ReadingBatch
from sluice.v1.ingest_pb2_grpc import IngestStub
from tests.adversarial.campaign import check_error, count
from tests.support.ingest import batch, reading
from tests.support.servers import SluiceServer
from tests.support.traffic import aio_channel, all_ok, steady_traffic

PER_CONNECTION = 8
PER_WORKER = 40
FLOOD_CONNECTIONS = 10
FLOOD_STREAMS_PER_CONNECTION = 12
SILENT_STREAMS = 16
WRITE_BLOCKED_S = 2.0
WRITER_DEADLINE_S = 40.0
BATCH_BYTES = 16 * 1024
RSS_GROWTH_BOUND = 200 * 1024 * 1024
"""The stated bound: 16 silent streams, each with at most inflight_per_stream (8) batches of
16 KiB held by the server plus HTTP/2 flow-control windows (grpc grows them up to a few MiB
per stream), stay far below this; unbounded buffering would pass it within seconds."""


@pytest.fixture(scope="module")
def server(tansu: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceServer]:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "server": {
            "max_streams_per_connection": PER_CONNECTION,
            "max_streams": PER_WORKER,
            "inflight_per_stream": 8,
        },
    }
    with SluiceServer(config, tmp_path_factory.mktemp("streams")) as srv:
        yield srv


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


MASKED = "refused while writing"
"""grpc.aio reports a write to a call the server has just ended as INTERNAL, hiding the
server's status; the server's refusal counters account for those."""


async def one_stream(stub: IngestStub, seq: int) -> Ack | grpc.aio.AioRpcError | str:
    call = stub.Stream(timeout=30)
    try:
        await call.write(batch([reading("flood-1")], seq))
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        return MASKED
    try:
        ack: Ack = await call.read()
    except grpc.aio.AioRpcError as error:
        return error
    return ack


def refusals(server: SluiceServer) -> float:
    """Streams the server refused for a stream limit, from its own counters."""
    total = 0.0
    for family in text_string_to_metric_families(server.metrics_text()):
        for item in family.samples:
            if item.name == "sluice_calls_refused_total" and item.labels["reason"] in (
                "streams",
                "streams_per_connection",
            ):
                total += item.value
    return total


async def test_a_flood_of_streams_from_one_client(server: SluiceServer) -> None:
    refused_before = refusals(server)
    stop = asyncio.Event()
    steady = asyncio.create_task(steady_traffic(server.target, stop))
    await asyncio.sleep(0.2)
    channels = [aio_channel(server.target) for _ in range(FLOOD_CONNECTIONS)]
    try:
        stubs = [IngestStub(channel) for channel in channels]
        outcomes = await asyncio.gather(
            *(
                one_stream(stub, seq)
                for stub in stubs
                for seq in range(1, FLOOD_STREAMS_PER_CONNECTION + 1)
            )
        )
    finally:
        stop.set()
        for channel in channels:
            await channel.close(None)
    count("flood streams", len(outcomes))
    acks = [o for o in outcomes if isinstance(o, Ack)]
    errors = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    masked = outcomes.count(MASKED)
    for error in errors:
        check_error(error, {grpc.StatusCode.RESOURCE_EXHAUSTED})
    assert all(ack.status == AckStatus.ACK_STATUS_OK for ack in acks)
    # At most the per-worker limit is open at once, the steady client's stream included;
    # every other stream was refused RESOURCE_EXHAUSTED, as the server's counters confirm.
    assert 0 < len(acks) <= PER_WORKER - 1
    assert len(acks) + len(errors) + masked == len(outcomes)
    assert refusals(server) - refused_before == len(errors) + masked
    assert all_ok(await asyncio.wait_for(steady, 30)), "the steady client was not served"


async def write_until_blocked(call: Any, payload: ReadingBatch) -> int:
    """Write batches without reading Acks until a write stays blocked; returns how many went."""
    deadline = time.monotonic() + WRITER_DEADLINE_S
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        payload.seq = seq
        try:
            await asyncio.wait_for(call.write(payload), WRITE_BLOCKED_S)
        except TimeoutError:
            return seq - 1
    raise AssertionError(f"the writer was not blocked after {seq} batches")


async def test_streams_that_never_read_their_acks(server: SluiceServer) -> None:
    assert server.process is not None
    pid = server.process.pid
    before = rss_bytes(pid)
    # Invalid readings: each Ack echoes 70 rejections, so unread Acks fill the client's
    # HTTP/2 window after a few batches, as a slow reader's would after many more.
    payload = batch([reading("!" * 64, tags={"pad": "x" * 160}) for _ in range(70)], seq=1)
    assert payload.ByteSize() >= BATCH_BYTES
    stop = asyncio.Event()
    steady = asyncio.create_task(steady_traffic(server.target, stop))
    channels = [aio_channel(server.target) for _ in range(SILENT_STREAMS)]
    try:
        calls = [IngestStub(channel).Stream(timeout=120) for channel in channels]
        written = await asyncio.gather(*(write_until_blocked(call, payload) for call in calls))
        during = rss_bytes(pid)
        for call in calls:
            call.cancel()
    finally:
        stop.set()
        for channel in channels:
            await channel.close(None)
    count("silent streams", SILENT_STREAMS)
    assert all(n > 0 for n in written), "every writer got some batches through before blocking"
    assert during - before < RSS_GROWTH_BOUND, (before, during)
    assert all_ok(await asyncio.wait_for(steady, 30)), "the steady client was not served"
