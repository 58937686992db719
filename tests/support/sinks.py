"""Test doubles that ship with Sluice: sinks that record batches, hold them, or fail them,
and a view of a checked batch's readings.

The sinks implement the ``Stage`` protocol, so a receiver or any stage can be tested against
them with a real gRPC server and no broker.
"""

from __future__ import annotations

import asyncio

from sluice.core.batch import Batch
from sluice.core.errors import SluiceError
from sluice.v1.ingest_pb2 import Reading, ReadingBatch


def readings_after_checks(batch: Batch) -> list[Reading]:
    """Every reading of a checked batch in order: the accepted ones as transformed (from
    ``batch.value``), the rejected ones as sent."""
    parsed = batch.parsed
    if isinstance(parsed, ReadingBatch):  # checked one by one, in place
        return list(parsed.readings)
    readings = list(ReadingBatch.FromString(batch.raw).readings)
    if batch.value is not None:
        faulty = {fault.index for fault in batch.faults}
        kept = [index for index in range(len(readings)) if index not in faulty]
        accepted = ReadingBatch.FromString(batch.value).readings
        for index, reading in zip(kept, accepted, strict=True):
            readings[index] = reading
    return readings


class RecordingSink:
    """Records every batch. With ``hold`` it keeps them undelivered until ``release``."""

    def __init__(self, hold: bool = False) -> None:
        self.batches: list[Batch] = []
        self.hold = hold
        self._arrived = asyncio.Condition()

    async def start(self) -> None:
        """Nothing to start."""

    async def shutdown(self) -> None:
        """Deliver whatever is still held."""
        self.release()

    async def consume(self, batch: Batch) -> None:
        """Record ``batch``; deliver it at once unless holding."""
        self.batches.append(batch)
        if not self.hold:
            batch.done.set_result(None)
        async with self._arrived:
            self._arrived.notify_all()

    def release(self, *indices: int) -> None:
        """Deliver the held batches at ``indices`` (all of them when none are given)."""
        chosen = [self.batches[i] for i in indices] if indices else self.batches
        for batch in chosen:
            if not batch.done.done():
                batch.done.set_result(None)

    async def wait_for(self, count: int) -> None:
        """Wait until at least ``count`` batches have arrived."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.batches) >= count)


class FailingSink:
    """Fails every batch with ``error``, as a broker that refuses everything would."""

    def __init__(self, error: SluiceError) -> None:
        self.error = error
        self.batches: list[Batch] = []

    async def start(self) -> None:
        """Nothing to start."""

    async def shutdown(self) -> None:
        """Nothing to drain."""

    async def consume(self, batch: Batch) -> None:
        """Record ``batch`` and fail it."""
        self.batches.append(batch)
        batch.done.set_exception(self.error)
