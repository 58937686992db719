"""Async traffic for limit and abuse tests: a well-behaved client that keeps streaming."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import grpc

from sluice.v1.ingest_pb2 import Ack, AckStatus
from sluice.v1.ingest_pb2_grpc import IngestStub
from tests.support.ingest import batch, reading

MAX_STEADY_BATCHES = 2_000


def aio_channel(target: str, options: Sequence[tuple[str, int]] = ()) -> grpc.aio.Channel:
    """An asyncio channel with a connection of its own."""
    return grpc.aio.insecure_channel(target, [("grpc.use_local_subchannel_pool", 1), *options])


async def steady_traffic(
    target: str,
    stop: asyncio.Event,
    interval_s: float = 0.05,
    metadata: Sequence[tuple[str, str]] = (),
) -> list[Ack]:
    """Stream one small batch every ``interval_s`` on one stream until ``stop`` is set,
    reading each Ack before the next write; returns the Acks. Any stream error is raised."""
    session = str(uuid.uuid4())
    acks: list[Ack] = []
    async with aio_channel(target) as channel:
        call = IngestStub(channel).Stream(metadata=tuple(metadata), timeout=120)
        for seq in range(1, MAX_STEADY_BATCHES + 1):
            if stop.is_set():
                break
            await call.write(batch([reading(f"steady-{seq % 7}")], seq, session))
            acks.append(await asyncio.wait_for(call.read(), 10))
            await asyncio.sleep(interval_s)
        await call.done_writing()
        assert await call.read() is grpc.aio.EOF
        assert await call.code() == grpc.StatusCode.OK
    return acks


def all_ok(acks: Sequence[Ack]) -> bool:
    """True when there are Acks and every one is OK."""
    return bool(acks) and all(ack.status == AckStatus.ACK_STATUS_OK for ack in acks)
