"""The Kafka sink stage: produces a batch's records and settles ``batch.done`` on delivery."""

from __future__ import annotations

import asyncio
import logging

from sluice import reasons
from sluice.batch import Batch
from sluice.errors import SluiceError, Unavailable
from sluice.kafka.config import DEFAULT_RETRY_AFTER_MS
from sluice.kafka.producer import AsyncProducer
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)


class KafkaSink:
    """Produces every record of ``batch.records``, in order, without awaiting delivery.

    ``batch.done`` resolves with None once every record is delivered, or gets the first
    error among the readings records. The dead-letter record (the one carrying no readings)
    never fails the batch: its failure is logged, and counted by the producer.
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
        """Hand every record of ``batch`` to the producer, in order."""
        done = batch.done
        records = batch.records
        produce = self._producer.produce
        try:
            if len(records) == 1 and records[0].readings:
                await produce(records[0], done)
                return
            countdown = _Countdown(batch, len(records))
            for record in records:
                if record.readings:
                    (await produce(record)).add_done_callback(countdown.readings)
                    continue
                try:
                    (await produce(record)).add_done_callback(countdown.dead_letter)
                except SluiceError as exc:
                    _log_dead_letter_lost(batch, exc)
                    countdown.count_down()
        except SluiceError as exc:
            if not done.done():
                done.set_exception(exc)
            return
        if not records and not done.done():
            done.set_result(None)


class _Countdown:
    """Resolves a batch's ``done`` once every one of its records is settled.

    The Ack waits for the dead-letter record too, so that a PARTIAL or REJECTED answer means
    the failures are in the DLQ; but a dead-letter record that Kafka refuses is only logged.
    """

    __slots__ = ("_batch", "_left")

    def __init__(self, batch: Batch, records: int) -> None:
        self._batch = batch
        self._left = records

    def readings(self, settled: asyncio.Future[None]) -> None:
        """Callback of a readings record: its error fails the batch."""
        error = _error_of(settled)
        done = self._batch.done
        if error is not None:
            if not done.done():
                done.set_exception(error)
            return
        self.count_down()

    def dead_letter(self, settled: asyncio.Future[None]) -> None:
        """Callback of the dead-letter record: its error is logged, never fatal."""
        error = _error_of(settled)
        if error is not None:
            _log_dead_letter_lost(self._batch, error)
        self.count_down()

    def count_down(self) -> None:
        """One more record settled."""
        self._left -= 1
        done = self._batch.done
        if self._left == 0 and not done.done():
            done.set_result(None)


def _error_of(settled: asyncio.Future[None]) -> BaseException | None:
    if settled.cancelled():
        return Unavailable(
            reasons.KAFKA_UNAVAILABLE, "Kafka delivery was cancelled", DEFAULT_RETRY_AFTER_MS
        )
    return settled.exception()


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
