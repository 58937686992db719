"""The asynchronous Kafka producer: confluent-kafka's ``Producer`` driven from asyncio.

- A ``DeliveryPoller`` thread polls librdkafka and settles each round's delivery reports on
  the event loop in one call; each record's future resolves there.
- ``BufferError`` (librdkafka's local queue is full) is backpressure: ``produce`` waits for
  deliveries to free room, in arrival order so per-key order holds, for at most the delivery
  timeout, then raises ``Unavailable``.
- A broken idempotent producer (a fatal error, or the epoch storm the poller detects) is
  replaced, and its undelivered records are produced again on the new one, in order.
- It is given its ``CircuitBreaker`` and feeds it (deliveries, retryable failures, every
  broker down); it never acts on the breaker's state. ``purge_queue()`` takes back the
  records librdkafka holds but has not sent; each is handed to ``on_purged``, never failed.
- ``waiting_since()`` and ``probe()`` are what the breaker's watch needs of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from enum import Enum
from typing import Final

from confluent_kafka import KafkaError, KafkaException, Producer

from sluice.core import reasons
from sluice.core.batch import Record
from sluice.core.config.kafka import KafkaConfig
from sluice.core.errors import SluiceError, Unavailable
from sluice.delivery.breaker import CircuitBreaker
from sluice.delivery.kafka.client import producer_settings
from sluice.delivery.kafka.deliveries import Deliveries, Pending, Report, SpillHook
from sluice.delivery.kafka.outcomes import QUEUE_FULL_ERROR, NotQueued, is_producer_fatal
from sluice.delivery.kafka.poller import DeliveryPoller, Fatal
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)

ROOM_WAIT_S: Final = 0.02
"""Longest wait for a delivery report before retrying a produce that found the queue full."""


class _State(Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


class AsyncProducer:
    """Produces ``Record``s with acks=all and idempotence, resolving a future per record."""

    def __init__(
        self,
        config: KafkaConfig,
        metrics: Metrics,
        breaker: CircuitBreaker,
        on_purged: SpillHook | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self.breaker = breaker
        self._deliveries = Deliveries(metrics, breaker, config.retry_after_ms, on_purged)
        self._purges = 0
        self._timeout_s = config.delivery_timeout_ms / 1000
        self._retry_after_ms = config.retry_after_ms
        self._state = _State.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: DeliveryPoller[Pending] | None = None
        self._producer: Producer | None = None
        self._generation = 0
        self._room = asyncio.Event()
        self._in_order = asyncio.Lock()
        self._blocked = 0
        self._closing: asyncio.Future[None] | None = None

    @property
    def retry_after_ms(self) -> int:
        """What a client told UNAVAILABLE because of Kafka is asked to wait."""
        return self._retry_after_ms

    @property
    def undelivered(self) -> int:
        """Records handed to librdkafka whose delivery is not yet reported."""
        return len(self._deliveries.pending)

    def oldest_undelivered_at(self) -> float | None:
        """When the oldest record still awaiting its delivery report was produced."""
        return self._deliveries.oldest_at()

    def waiting_since(self) -> float | None:
        """Since when records have waited with no delivery report at all (None: none wait)."""
        return self._deliveries.waiting_since()

    def purge_queue(self) -> float:
        """Take back every record librdkafka holds but has not sent, and wake the records
        waiting for room (they raise ``NotQueued``). Records in flight keep waiting for their
        delivery report.

        The client is handed over to the poller, which purges its queue and polls it until
        its records in flight are reported; a new client takes the records from now on.
        Returns the time of the purge: every record produced before it has settled once
        ``oldest_undelivered_at()`` is later, or None.
        """
        if self._state is _State.RUNNING and self._poller is not None:
            self._replace_producer(hand_over=True)
        self._purges += 1
        self._room.set()
        return time.monotonic()

    async def start(self) -> None:
        """Create the producer and start its poller thread."""
        if self._state is not _State.NEW:
            return
        self._loop = asyncio.get_running_loop()
        self._poller = DeliveryPoller(self._loop, self._settle, self._all_brokers_down)
        self._replace_producer()
        self._state = _State.RUNNING
        self._poller.start()

    async def produce(
        self, record: Record, future: asyncio.Future[None] | None = None, *, spill: bool = True
    ) -> asyncio.Future[None]:
        """Hand ``record`` to librdkafka; the returned future resolves once it is delivered.

        Pass ``future`` to have that future settled instead of a new one. It gets a
        ``DeliveryFailed`` (final refusal) or an ``Unavailable`` (retryable) on failure; or,
        with ``on_purged`` given and ``spill``, goes to ``on_purged`` if librdkafka gives it
        back unsent. Raises either directly when the record cannot even be queued, e.g. when the
        local queue stays full for the whole delivery timeout (``NotQueued`` when a purge
        woke it).
        """
        entry = self._pending(record, future, spill)
        if not self._blocked:
            try:
                self._send(entry)
                return entry.future
            except BufferError:
                pass
        await self._send_when_room(entry)
        return entry.future

    def try_produce(
        self, record: Record, future: asyncio.Future[None] | None = None
    ) -> asyncio.Future[None] | None:
        """``produce`` without waiting: None, and nothing queued, when librdkafka's local
        queue is full or records already wait for room (then ``produce`` waits its turn).

        Raises as ``produce`` does when the record is refused outright.
        """
        if self._blocked:
            return None
        entry = self._pending(record, future, True)
        try:
            self._send(entry)
        except BufferError:
            return None
        return entry.future

    def _pending(self, record: Record, future: asyncio.Future[None] | None, spill: bool) -> Pending:
        loop = self._loop
        if self._state is not _State.RUNNING or loop is None:
            raise self._unavailable("the producer is not running")
        now = time.monotonic()
        settled = loop.create_future() if future is None else future
        return Pending(record, settled, now, now + self._timeout_s, spill)

    async def shutdown(self) -> None:
        """Flush what librdkafka holds (bounded by the delivery timeout) and stop polling.

        Idempotent and safe without ``start``. Records still undelivered at the deadline
        fail with ``Unavailable``.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        poller = self._poller
        if self._state is _State.NEW or poller is None:
            self._state = _State.CLOSED
            return
        # 1. stop polling; 2. flush, still taking records blocked on a full queue;
        # 3. refuse new records and fail what is left; 4. destroy the client off the loop.
        self._state = _State.CLOSING
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, poller.stop)
        deadline = time.monotonic() + self._timeout_s
        await loop.run_in_executor(None, poller.drain, deadline, lambda: self._blocked > 0)
        self._state = _State.CLOSED
        self._producer = None
        for entry in list(self._deliveries.pending):
            self._deliveries.fail(
                entry, self._unavailable("the producer shut down before delivery")
            )
        self._room.set()
        await loop.run_in_executor(None, poller.release)

    def _replace_producer(self, hand_over: bool = False) -> None:
        assert self._poller is not None
        self._generation += 1
        callbacks = self._poller.client_settings(self._generation)
        self._producer = Producer(producer_settings(self._config, callbacks))
        self._poller.use(self._producer, self._generation, hand_over)

    def _send(self, entry: Pending) -> None:
        """Queue ``entry``; a fatally broken producer is replaced once and the send retried."""
        try:
            self._queue(entry)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if not is_producer_fatal(error) or self._state is not _State.RUNNING:
                raise self._deliveries.refused(error, entry.record.topic) from exc
            self._recreate(f"{error.name()}: {error.str()}")
            try:
                self._queue(entry)
            except KafkaException as again:
                raise self._deliveries.refused(again.args[0], entry.record.topic) from again

    def _queue(self, entry: Pending) -> None:
        producer, poller = self._producer, self._poller
        if producer is None or poller is None:
            raise self._unavailable("the producer is shut down")
        record = entry.record
        generation = self._generation
        producer.produce(
            record.topic,
            record.value,
            record.key,
            headers=record.headers,  # type: ignore[arg-type]  # list is invariant; bytes is allowed
            on_delivery=poller.on_delivery(entry, generation),
        )
        entry.generation = generation
        self._deliveries.pending[entry] = None

    async def _send_when_room(self, entry: Pending) -> None:
        """Queue ``entry`` once deliveries free room, behind every record already waiting."""
        loop = asyncio.get_running_loop()
        purges = self._purges
        self._blocked += 1
        try:
            async with self._in_order:
                deadline = loop.time() + self._timeout_s
                while True:
                    if self._state is _State.CLOSED:
                        raise self._unavailable("the producer shut down")
                    if self._purges != purges:
                        raise NotQueued(
                            reasons.KAFKA_UNAVAILABLE,
                            "Kafka: the producer gave its queue back",
                            self._retry_after_ms,
                        )
                    try:
                        self._send(entry)
                        return
                    except BufferError:
                        pass
                    left = deadline - loop.time()
                    if left <= 0:
                        self._deliveries.counters.error(QUEUE_FULL_ERROR)
                        raise self._unavailable(
                            f"the local queue stayed full for {self._timeout_s:g}s"
                        )
                    self._room.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(ROOM_WAIT_S, left)):
                            await self._room.wait()
        finally:
            self._blocked -= 1

    def _settle(self, reports: list[Report], fatal: Fatal | None, now: float) -> None:
        """Settle one poll round's delivery reports, on the event loop.

        Deliveries are settled before a broken producer is replaced, so records it did
        deliver are not produced twice.
        """
        running = self._state is _State.RUNNING
        broken = self._deliveries.settle(reports, now, may_recreate=running)
        if fatal is not None and fatal[0] == self._generation:
            broken = fatal[1]
        if broken is not None:
            self._recreate(broken)
        self._room.set()

    def _recreate(self, reason: str) -> None:
        """Replace the producer and produce its undelivered records again, in order (records
        of a client handed over by ``purge_queue`` stay with it)."""
        if self._state is not _State.RUNNING:
            return
        broken = self._generation
        self._replace_producer()
        self._metrics.producer_recreated.inc()
        deliveries = self._deliveries
        log.warning(
            "replaced the Kafka producer",
            extra={"reason": reason, "undelivered": len(deliveries.pending)},
        )
        now = time.monotonic()
        for entry in list(deliveries.pending):
            if entry.generation != broken:
                continue
            if now >= entry.deadline:
                deliveries.fail(entry, self._unavailable("delivery timed out while replacing"))
                continue
            try:
                self._queue(entry)
            except (BufferError, KafkaException, SluiceError) as exc:
                deliveries.fail(entry, self._unavailable(f"could not produce again: {exc}"))

    def probe(self) -> None:
        """Ask the cluster for the readings topic's metadata: blocking (run it off the loop),
        and raising unless Kafka answers."""
        producer = self._producer
        if producer is None:
            raise self._unavailable("the producer is shut down")
        timeout_s = self._config.breaker.probe_timeout_ms / 1000
        producer.list_topics(self._config.topic, timeout=timeout_s)

    def _all_brokers_down(self, generation: int) -> None:
        """From the poller thread: librdkafka says no broker of ``generation`` is up."""
        loop = self._loop
        if loop is None or generation != self._generation:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed under us
            loop.call_soon_threadsafe(self.breaker.trip, "librdkafka: all brokers are down")

    def _unavailable(self, what: str) -> Unavailable:
        return Unavailable(reasons.KAFKA_UNAVAILABLE, f"Kafka: {what}", self._retry_after_ms)
