"""The durable sink: the last stage, and the one owner of durable delivery.

A batch is durable once Kafka holds it, or the spool does (synced as ``spool.fsync`` says);
then its ``batch.done`` resolves. This stage decides which (``routing``), owns the circuit
breaker towards Kafka, its watch, the producer, the spool and the replayer, and is the only
one that acts on the breaker's changes:

- **breaker opens**: the producer's queue is purged (``purge_queue``); what librdkafka held
  unsent comes back through ``on_purged`` and is spooled, in a segment reserved for that
  purge (``purges``), and new batches go to the spool; without a spool they are refused;
- **breaker closes again** and every purge has settled: the replayer sends the spool to Kafka
  in order, and once it is empty new batches go to Kafka again.

Like the OpenTelemetry Collector's ``exporterhelper``, the queue (the spool) and the retry
(the breaker and the replay) sit around the exporter (the producer), which only sends and
reports. With the breaker closed and the spool empty, a batch costs one attribute check
more than producing it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Protocol

from sluice.core import reasons
from sluice.core.batch import HANDED_ON, Batch, Record
from sluice.core.config.kafka import KafkaConfig
from sluice.core.config.spool import SpoolConfig
from sluice.core.errors import SluiceError, Unavailable
from sluice.delivery.breaker import BreakerState, CircuitBreaker
from sluice.delivery.countdown import BatchCountdown
from sluice.delivery.kafka.deliveries import SpillHook
from sluice.delivery.kafka.outcomes import NotQueued
from sluice.delivery.kafka.producer import AsyncProducer
from sluice.delivery.purges import PurgeLedger
from sluice.delivery.replayer import Replayer
from sluice.delivery.routing import Route, SinkState, accepting, route
from sluice.delivery.spool.spool import Spool
from sluice.delivery.watch import BreakerWatch
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)

DRAIN_POLL_S: Final = 0.05


class Producer(Protocol):
    """What the sink needs of a producer (``AsyncProducer``)."""

    async def start(self) -> None: ...
    async def shutdown(self) -> None: ...
    async def produce(
        self, record: Record, future: asyncio.Future[None] | None = None, *, spill: bool = True
    ) -> asyncio.Future[None]: ...
    def try_produce(
        self, record: Record, future: asyncio.Future[None] | None = None
    ) -> asyncio.Future[None] | None: ...
    def purge_queue(self) -> float: ...
    def oldest_undelivered_at(self) -> float | None: ...
    def waiting_since(self) -> float | None: ...
    def probe(self) -> None: ...


ProducerFactory = Callable[[CircuitBreaker, SpillHook | None], Producer]
"""Makes the sink's producer, given the breaker it feeds and where purged records go."""


class DurableSink:
    """Produces every record of ``batch.records`` in order, or spools them; never awaits
    delivery.

    ``batch.done`` resolves with None once every record is durable, or gets the first error
    among the readings records. The dead-letter record (the one carrying no readings) never
    fails the batch: its failure is logged, and counted by the producer.
    """

    def __init__(
        self,
        config: KafkaConfig,
        metrics: Metrics,
        spool: SpoolConfig | None = None,
        producer: ProducerFactory | None = None,
    ) -> None:
        self._retry_after_ms = config.retry_after_ms
        self._spool_config = spool if spool is not None and spool.enabled else None
        self.breaker = CircuitBreaker(config.breaker)
        if producer is None:

            def producer(breaker: CircuitBreaker, on_purged: SpillHook | None) -> Producer:
                return AsyncProducer(config, metrics, breaker, on_purged)

        self.producer = producer(self.breaker, self._spill if self._spool_config else None)
        # Late-bound, so that a test double needs only what the stage itself calls.
        self._watch = BreakerWatch(
            self.breaker,
            metrics,
            lambda: self.producer.waiting_since(),
            lambda: self.producer.probe(),
        )
        self._spool: Spool | None = None
        self._replayer: Replayer | None = None
        if self._spool_config is not None:
            self._spool = Spool(self._spool_config, metrics, self._retry_after_ms)
            self._replayer = Replayer(
                self._spool,
                lambda record: self.producer.produce(record, spill=False),
                metrics,
                self._may_replay,
                self._refresh,
            )
        self._purges = PurgeLedger()
        self._settling: asyncio.Future[None] | None = None
        self._divert = False  # decided once the spool is open (start)
        self._closing: asyncio.Future[None] | None = None
        self.breaker.subscribe(self._on_breaker)

    @property
    def accepting(self) -> bool:
        """False only when nothing can be made durable: the breaker is open and the spool
        is full or disabled."""
        return accepting(self._state())

    async def start(self) -> None:
        """Open the spool (recovering what is on disk), start the producer and the breaker's
        watch, then the replay."""
        if self._spool is not None:
            await self._spool.start()
            self._refresh()
        await self.producer.start()
        self._watch.start()
        if self._replayer is not None:
            self._replayer.start()

    async def shutdown(self) -> None:
        """Replay the spool into a reachable Kafka (bounded), flush and stop the producer,
        then close the spool; idempotent."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self._replayer is not None:
            await self._drain()
            await self._replayer.stop()
        await self._watch.stop()
        await self.producer.shutdown()
        if self._spool is not None:
            await self._spool.close()

    def consume(self, batch: Batch) -> Awaitable[None]:
        """Hand every record of ``batch`` to the producer in order, or to the spool.

        Returns ``HANDED_ON`` when librdkafka took every record at once; otherwise what to
        await while the rest wait for room in its queue.
        """
        if self._divert:
            self._divert_batch(batch)
            return HANDED_ON
        records = batch.records
        try_produce = self.producer.try_produce
        try:
            if len(records) == 1 and records[0].readings:
                if try_produce(records[0], batch.done) is None:
                    return self._produce_from(batch, None, 0)
                return HANDED_ON
            countdown = BatchCountdown(batch, len(records))
            for index, record in enumerate(records):
                try:
                    produced = try_produce(record)
                except SluiceError as exc:
                    if record.readings:
                        raise
                    countdown.dead_letter_lost(exc)
                    continue
                if produced is None:
                    return self._produce_from(batch, countdown, index)
                produced.add_done_callback(countdown.settled_by(record))
        except SluiceError as exc:
            _fail(batch.done, exc)
            return HANDED_ON
        if not records:
            _succeed(batch.done)
        return HANDED_ON

    async def _produce_from(
        self, batch: Batch, countdown: BatchCountdown | None, first: int
    ) -> None:
        """Produce ``batch.records`` from ``first`` on, each waiting its turn for room; with
        no ``countdown``, the one readings record settles ``batch.done`` itself."""
        records = batch.records
        produce = self.producer.produce
        try:
            if countdown is None:
                try:
                    await produce(records[0], batch.done)
                except NotQueued:
                    self._store(records, [batch.done])
                return
            for index in range(first, len(records)):
                record = records[index]
                try:
                    (await produce(record)).add_done_callback(countdown.settled_by(record))
                except NotQueued:
                    self._store(records[index:], countdown.futures(records[index:]))
                    return
                except SluiceError as exc:
                    if record.readings:
                        raise
                    countdown.dead_letter_lost(exc)
        except SluiceError as exc:
            _fail(batch.done, exc)

    def _divert_batch(self, batch: Batch) -> None:
        """Spool every record of ``batch``, or refuse it without a spool."""
        try:
            if self._spool is None:
                raise Unavailable(
                    reasons.KAFKA_UNAVAILABLE,
                    "Kafka is unreachable (circuit breaker open) and the spool is disabled",
                    self._retry_after_ms,
                )
            self._append(batch.records, batch.done)
        except SluiceError as exc:
            _fail(batch.done, exc)
            return
        self._spooled()

    def _store(self, records: list[Record], futures: list[asyncio.Future[None]]) -> None:
        """Spool records librdkafka would not take, each settling its future."""
        for record, future in zip(records, futures, strict=True):
            try:
                self._append((record,), future)
            except SluiceError as exc:
                _fail(future, exc)
            else:
                self._spooled()

    def _append(
        self, records: Sequence[Record], done: asyncio.Future[None], segment: int | None = None
    ) -> None:
        """Spool ``records`` (after everything spooled so far, or into ``segment``); settle
        ``done`` once durable. Raises ``Unavailable`` when the spool cannot take them."""
        spool = self._spool
        assert spool is not None  # NotQueued only follows a purge, and purges need a spool
        if records:
            self._settle_when_synced(spool.append(records, segment), done)
        else:
            _succeed(done)

    def _spill(self, record: Record, done: asyncio.Future[None], produced_at: float) -> None:
        """``on_purged``: spool a record librdkafka gave back unsent, in the segment of the
        purge that took it back, or after everything else when no purge did."""
        segment = self._purges.segment_for(produced_at)
        try:
            self._append((record,), done, segment)
        except SluiceError as exc:
            _fail(done, exc)
        else:
            if segment is not None:
                self._purges.spilled(segment, produced_at)
        self._spooled()

    async def _drain(self) -> None:
        """With Kafka reachable, replay until the spool is empty, for ``drain_timeout_s``;
        otherwise the spool waits on disk for the next start."""
        assert self._spool_config is not None
        deadline = time.monotonic() + self._spool_config.drain_timeout_s
        if not self._divert or not await self._watch.probe_now():
            return
        while self._divert and time.monotonic() < deadline:
            if self.breaker.is_open:
                return
            await asyncio.sleep(DRAIN_POLL_S)

    def _spooled(self) -> None:
        if self._replayer is not None:
            self._replayer.wake()
        self._refresh()

    def _on_breaker(self, state: BreakerState) -> None:
        """The breaker changed: the one place that acts on it."""
        self._watch.show(state)
        if state is BreakerState.OPEN and self._spool is not None:
            self._purges.purged(self.producer.purge_queue(), self._spool.reserve())
        if self._replayer is not None:
            self._replayer.wake()
        self._refresh()

    def _may_replay(self) -> bool:
        """The replayer's condition: the breaker is not open, and every record produced
        before the last purge has settled, so a replayed record never overtakes an older one
        of its key that librdkafka still holds."""
        if self.breaker.is_open:
            return False
        if not self._purges.unsettled:
            return True
        if self._settling is None:
            settled = self._purges.settled(self.producer.oldest_undelivered_at())
            if settled:
                self._settling = asyncio.ensure_future(self._seal_purges(settled))
        return False

    async def _seal_purges(self, count: int) -> None:
        """Every record the first ``count`` purges took back is spooled: put each reserved
        segment in produce order, and let the replay read past it."""
        spool = self._spool
        assert spool is not None
        try:
            for purge in self._purges.head(count):
                if purge.produced_at:
                    try:
                        await spool.reorder(purge.segment, purge.produced_at)
                    except OSError as exc:  # replayed in the order it was reported, then
                        log.error("spool reorder failed", extra={"error": str(exc)})
                spool.seal(purge.segment)
            self._purges.forget(count)
        finally:
            self._settling = None
        self._spooled()

    def _state(self) -> SinkState:
        spool, replayer = self._spool, self._replayer
        return SinkState(
            breaker_open=self.breaker.is_open,
            spooling=spool is not None,
            spool_holds_data=spool is not None and not spool.empty,
            replaying=replayer is not None and replayer.in_flight > 0,
            purges_unsettled=self._purges.unsettled,
            spool_full=spool is not None and spool.full,
        )

    def _refresh(self) -> None:
        """Decide again where new batches go; the hot path reads the plain flag."""
        self._divert = route(self._state()) is not Route.KAFKA

    def _settle_when_synced(
        self, durable: asyncio.Future[None], done: asyncio.Future[None]
    ) -> None:
        """Settle ``done`` like ``durable``: an fsync that failed means not durable."""
        retry_after_ms = self._retry_after_ms

        def settle(synced: asyncio.Future[None]) -> None:
            if done.done():
                return
            error = "cancelled" if synced.cancelled() else synced.exception()
            if error is None:
                done.set_result(None)
                return
            text = f"Kafka is unreachable and the spool could not sync: {error}"
            done.set_exception(Unavailable(reasons.KAFKA_UNAVAILABLE, text, retry_after_ms))

        durable.add_done_callback(settle)


def _fail(done: asyncio.Future[None], error: SluiceError) -> None:
    if not done.done():
        done.set_exception(error)


def _succeed(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
