"""The Kafka sink stage: produces a batch's records and settles ``batch.done`` once durable.

Durable means delivered to Kafka, or appended to the spool (``sluice.delivery.spillway``) and
synced as ``spool.fsync`` says. With the circuit breaker closed and the spool empty, a batch
costs one attribute check more than producing it; otherwise it is spooled whole, or, with
no spool, answered UNAVAILABLE at once while the breaker is open.
"""

from __future__ import annotations

import asyncio
import logging

from sluice.core import reasons
from sluice.core.batch import Batch, Record
from sluice.core.config.kafka import DEFAULT_RETRY_AFTER_MS
from sluice.core.config.spool import SpoolConfig
from sluice.core.errors import SluiceError, Unavailable
from sluice.delivery.breaker import BreakerState
from sluice.delivery.kafka.outcomes import NotQueued
from sluice.delivery.kafka.producer import AsyncProducer
from sluice.delivery.spillway import Spillway
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)


class KafkaSink:
    """Produces every record of ``batch.records``, in order, without awaiting delivery.

    ``batch.done`` resolves with None once every record is durable, or gets the first error
    among the readings records. The dead-letter record (the one carrying no readings) never
    fails the batch: its failure is logged, and counted by the producer.
    """

    def __init__(
        self, producer: AsyncProducer, metrics: Metrics, spool: SpoolConfig | None = None
    ) -> None:
        self._producer = producer
        self._metrics = metrics
        self._breaker = producer.breaker
        self._retry_after_ms = producer.retry_after_ms
        self._spillway = (
            Spillway(spool, producer, metrics, self._retry_after_ms, self._set_divert)
            if spool is not None and spool.enabled
            else None
        )
        self._divert = False
        self._closing: asyncio.Future[None] | None = None

    @property
    def accepting(self) -> bool:
        """False only when nothing can be made durable: the breaker is open and the spool
        is full or disabled."""
        if not self._breaker.is_open:
            return True
        return self._spillway is not None and not self._spillway.full

    async def start(self) -> None:
        """Open the spool (replaying what is on disk), then start the producer."""
        spillway = self._spillway
        if spillway is not None:
            await spillway.open()
        else:
            self._breaker.subscribe(self._on_breaker)
        await self._producer.start()
        if spillway is not None:
            spillway.start_replay()

    async def shutdown(self) -> None:
        """Replay the spool into a reachable Kafka (bounded), flush and stop the producer,
        then close the spool; idempotent."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        spillway = self._spillway
        if spillway is not None:
            await spillway.drain()
            await spillway.stop_replay()
        await self._producer.shutdown()
        if spillway is not None:
            await spillway.close()

    async def consume(self, batch: Batch) -> None:
        """Hand every record of ``batch`` to the producer in order, or to the spool."""
        done = batch.done
        if self._divert:
            self._divert_batch(batch)
            return
        records = batch.records
        produce = self._producer.produce
        try:
            if len(records) == 1 and records[0].readings:
                try:
                    await produce(records[0], done)
                except NotQueued:
                    self._store(records, [done])
                return
            countdown = _Countdown(batch, len(records))
            for index, record in enumerate(records):
                settled = countdown.readings if record.readings else countdown.dead_letter
                try:
                    (await produce(record)).add_done_callback(settled)
                except NotQueued:
                    self._store(records[index:], countdown.futures(records[index:]))
                    return
                except SluiceError as exc:
                    if record.readings:
                        raise
                    _log_dead_letter_lost(batch, exc)
                    countdown.count_down()
        except SluiceError as exc:
            if not done.done():
                done.set_exception(exc)
            return
        if not records and not done.done():
            done.set_result(None)

    def _divert_batch(self, batch: Batch) -> None:
        spillway = self._spillway
        try:
            if spillway is None:
                raise Unavailable(
                    reasons.KAFKA_UNAVAILABLE,
                    "Kafka is unreachable (circuit breaker open) and the spool is disabled",
                    self._retry_after_ms,
                )
            spillway.take(batch)
        except SluiceError as exc:
            if not batch.done.done():
                batch.done.set_exception(exc)

    def _store(self, records: list[Record], futures: list[asyncio.Future[None]]) -> None:
        """Spool records librdkafka would not take, each settling its future."""
        assert self._spillway is not None  # NotQueued only follows a purge, which needs one
        for record, future in zip(records, futures, strict=True):
            try:
                self._spillway.store((record,), future)
            except SluiceError as exc:
                if not future.done():
                    future.set_exception(exc)

    def _set_divert(self, divert: bool) -> None:
        self._divert = divert

    def _on_breaker(self, state: BreakerState) -> None:
        self._divert = state is BreakerState.OPEN


class _Countdown:
    """Resolves a batch's ``done`` once every one of its records is settled.

    The Ack waits for the dead-letter record too, so that a PARTIAL or REJECTED answer means
    the failures are in the DLQ; but a dead-letter record that Kafka refuses is only logged.
    """

    __slots__ = ("_batch", "_left")

    def __init__(self, batch: Batch, records: int) -> None:
        self._batch = batch
        self._left = records

    def futures(self, records: list[Record]) -> list[asyncio.Future[None]]:
        """One future per record, each counting down like a produced record's delivery."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for record in records:
            future: asyncio.Future[None] = loop.create_future()
            future.add_done_callback(self.readings if record.readings else self.dead_letter)
            futures.append(future)
        return futures

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
            "session_id": batch.session_id,
            "seq": batch.seq,
            "error": str(error),
        },
    )
