"""The Kafka sink stage: produces a batch's records and settles ``batch.done`` on delivery."""

from __future__ import annotations

import asyncio
import logging

from sluice import reasons
from sluice.batch import Batch, Record
from sluice.errors import SluiceError, Unavailable
from sluice.kafka.config import DEFAULT_RETRY_AFTER_MS
from sluice.kafka.producer import AsyncProducer
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)


class KafkaSink:
    """Produces every record of ``batch.records``, in order, without awaiting delivery.

    ``batch.done`` resolves with None once every readings record is delivered, or gets the
    first error among them. The dead-letter record (the one carrying no readings) never
    fails the batch: its failure is logged, and counted by the producer.
    """

    def __init__(self, producer: AsyncProducer, metrics: Metrics) -> None:
        self._producer = producer
        self._metrics = metrics

    async def start(self) -> None:
        """Start the producer."""
        await self._producer.start()

    async def shutdown(self) -> None:
        """Flush and stop the producer; idempotent."""
        await self._producer.shutdown()

    async def consume(self, batch: Batch) -> None:
        """Hand every record of ``batch`` to the producer, readings first."""
        done = batch.done
        records = batch.records
        dead_letter: Record | None = None
        if records and records[-1].readings == 0:
            dead_letter = records[-1]
            records = records[:-1]
        produce = self._producer.produce
        try:
            if len(records) == 1:
                await produce(records[0], done)
            elif records:
                countdown = _Countdown(done, len(records))
                for record in records:
                    (await produce(record)).add_done_callback(countdown)
        except SluiceError as exc:
            if not done.done():
                done.set_exception(exc)
            return
        if dead_letter is not None:
            await self._produce_dead_letter(batch, dead_letter)
        if not records and not done.done():
            done.set_result(None)

    async def _produce_dead_letter(self, batch: Batch, record: Record) -> None:
        try:
            future = await self._producer.produce(record)
        except SluiceError as exc:
            _log_dead_letter_lost(batch, exc)
            return
        future.add_done_callback(lambda settled: _check_dead_letter(batch, settled))


class _Countdown:
    """Resolves a batch's ``done`` once all of its records' futures have succeeded."""

    __slots__ = ("_done", "_left")

    def __init__(self, done: asyncio.Future[None], records: int) -> None:
        self._done = done
        self._left = records

    def __call__(self, settled: asyncio.Future[None]) -> None:
        done = self._done
        error = _error_of(settled)
        if error is not None:
            if not done.done():
                done.set_exception(error)
            return
        self._left -= 1
        if self._left == 0 and not done.done():
            done.set_result(None)


def _error_of(settled: asyncio.Future[None]) -> BaseException | None:
    if settled.cancelled():
        return Unavailable(
            reasons.KAFKA_UNAVAILABLE, "Kafka delivery was cancelled", DEFAULT_RETRY_AFTER_MS
        )
    return settled.exception()


def _check_dead_letter(batch: Batch, settled: asyncio.Future[None]) -> None:
    error = _error_of(settled)
    if error is not None:
        _log_dead_letter_lost(batch, error)


def _log_dead_letter_lost(batch: Batch, error: BaseException) -> None:
    log.warning(
        "dead-letter record not delivered",
        extra={
            "tenant": batch.tenant,
            "session_id": batch.message.session_id,
            "seq": batch.seq,
            "error": str(error),
        },
    )
