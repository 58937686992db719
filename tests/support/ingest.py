"""Builds readings and batches, and talks to a real server with a plain gRPC stub."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence

import grpc

from sluice.v1.ingest_pb2 import Ack, Location, Reading, ReadingBatch
from sluice.v1.ingest_pb2_grpc import IngestStub


def reading(
    device_id: str = "dev-1",
    value: float = 21.5,
    metric: str = "temperature",
    unit: str = "°C",
    time_unix_nano: int | None = None,
    tags: dict[str, str] | None = None,
    location: tuple[float, float] | None = None,
) -> Reading:
    """A valid reading unless told otherwise."""
    result = Reading(
        device_id=device_id,
        metric=metric,
        value=value,
        unit=unit,
        time_unix_nano=time.time_ns() if time_unix_nano is None else time_unix_nano,
        tags=tags or {"zone": "a"},
    )
    if location is not None:
        result.location.CopyFrom(Location(lat=location[0], lon=location[1]))
    return result


def batch(
    readings: Iterable[Reading], seq: int, session_id: str = "", source_id: str = "gw-1"
) -> ReadingBatch:
    """A ReadingBatch with the given identity."""
    return ReadingBatch(
        seq=seq,
        source_id=source_id,
        session_id=session_id or str(uuid.uuid4()),
        readings=list(readings),
    )


Metadata = Sequence[tuple[str, str]]


def open_channel(target: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    """A channel of its own (a new connection): plain, or TLS with ``credentials``."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    if credentials is None:
        return grpc.insecure_channel(target, options)
    return grpc.secure_channel(target, credentials, options)


def stream(
    target: str,
    batches: Sequence[ReadingBatch],
    timeout: float = 60.0,
    metadata: Metadata = (),
    credentials: grpc.ChannelCredentials | None = None,
) -> list[Ack]:
    """Send ``batches`` on one Ingest.Stream (pipelined) and return every Ack received."""
    with open_channel(target, credentials) as channel:
        call = IngestStub(channel).Stream(iter(batches), timeout=timeout, metadata=metadata)
        return list(call)


def push(
    target: str,
    message: ReadingBatch,
    timeout: float = 30.0,
    metadata: Metadata = (),
    credentials: grpc.ChannelCredentials | None = None,
) -> Ack:
    """Send one batch with the unary Ingest.Push."""
    with open_channel(target, credentials) as channel:
        ack: Ack = IngestStub(channel).Push(message, timeout=timeout, metadata=metadata)
        return ack
