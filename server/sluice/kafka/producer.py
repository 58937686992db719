"""The asynchronous Kafka producer: confluent-kafka's ``Producer`` driven from asyncio.

- A ``DeliveryPoller`` thread polls librdkafka and settles each round's delivery reports on
  the event loop in one call; each record's future resolves there.
- ``BufferError`` (librdkafka's local queue is full) is backpressure: ``produce`` waits for
  deliveries to free room, in arrival order so per-key order holds, for at most the delivery
  timeout, then raises ``Unavailable``.
- A broken idempotent producer (a fatal error, or the epoch storm the poller detects) is
  replaced, and its undelivered records are produced again on the new one, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Producer

from sluice import reasons
from sluice.batch import Record
from sluice.errors import SluiceError, Unavailable
from sluice.kafka.config import KafkaConfig
from sluice.kafka.outcomes import QUEUE_FULL_ERROR, is_producer_fatal, refusal
from sluice.kafka.poller import DeliveryPoller, Fatal
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)
librdkafka_log = logging.getLogger("sluice.kafka.librdkafka")

ROOM_WAIT_S: Final = 0.02
"""Longest wait for a delivery report before retrying a produce that found the queue full."""


class _State(Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True, eq=False)
class _Pending:
    """A record handed to librdkafka whose delivery is not yet reported."""

    record: Record
    future: asyncio.Future[None]
    produced_at: float
    deadline: float
    generation: int = 0


_Report = tuple[_Pending, int, KafkaError | None]


class AsyncProducer:
    """Produces ``Record``s with acks=all and idempotence, resolving a future per record."""

    def __init__(self, config: KafkaConfig, metrics: Metrics) -> None:
        self._config = config
        self._metrics = metrics
        self._timeout_s = config.delivery_timeout_ms / 1000
        self._retry_after_ms = config.retry_after_ms
        self._state = _State.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: DeliveryPoller[_Pending] | None = None
        self._producer: Producer | None = None
        self._generation = 0
        self._pending: dict[_Pending, None] = {}
        self._room = asyncio.Event()
        self._in_order = asyncio.Lock()
        self._blocked = 0
        self._closing: asyncio.Future[None] | None = None
        self._produced: dict[str, Any] = {}
        self._errors: dict[str, Any] = {}

    @property
    def undelivered(self) -> int:
        """Records handed to librdkafka whose delivery is not yet reported."""
        return len(self._pending)

    async def start(self) -> None:
        """Create the producer and start its poller thread."""
        if self._state is not _State.NEW:
            return
        self._loop = asyncio.get_running_loop()
        self._poller = DeliveryPoller(self._loop, self._settle, self._metrics.broker_up)
        self._replace_producer()
        self._state = _State.RUNNING
        self._poller.start()

    async def produce(
        self, record: Record, future: asyncio.Future[None] | None = None
    ) -> asyncio.Future[None]:
        """Hand ``record`` to librdkafka; the returned future resolves once it is delivered.

        Pass ``future`` to have that future settled instead of a new one. It gets a
        ``DeliveryFailed`` (final refusal) or an ``Unavailable`` (retryable) on failure.
        Raises either directly when the record cannot even be queued, e.g. when the local
        queue stays full for the whole delivery timeout.
        """
        loop = self._loop
        if self._state is not _State.RUNNING or loop is None:
            raise self._unavailable("the producer is not running")
        now = time.monotonic()
        settled = loop.create_future() if future is None else future
        entry = _Pending(record, settled, now, now + self._timeout_s)
        if not self._blocked:
            try:
                self._send(entry)
                return settled
            except BufferError:
                pass
        await self._send_when_room(entry)
        return settled

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
        for entry in list(self._pending):
            self._fail(entry, self._unavailable("the producer shut down before delivery"))
        self._room.set()
        await loop.run_in_executor(None, poller.release)

    def _replace_producer(self) -> None:
        assert self._poller is not None
        config = self._config
        self._generation += 1
        settings: dict[str, Any] = {
            "bootstrap.servers": config.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": config.compression,
            "linger.ms": config.linger_ms,
            "partitioner": "murmur2_random",
            "message.timeout.ms": config.delivery_timeout_ms,
            "queue.buffering.max.messages": config.queue_max_messages,
            "queue.buffering.max.kbytes": config.queue_max_kbytes,
            **config.client,
            **self._poller.client_settings(self._generation),
            "logger": librdkafka_log,  # librdkafka's own lines join the JSON log, via poll()
        }
        self._producer = Producer(settings)
        self._poller.use(self._producer, self._generation)

    def _send(self, entry: _Pending) -> None:
        """Queue ``entry``; a fatally broken producer is replaced once and the send retried."""
        try:
            self._queue(entry)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if not is_producer_fatal(error) or self._state is not _State.RUNNING:
                raise self._refused(error, entry.record.topic) from exc
            self._recreate(f"{error.name()}: {error.str()}")
            try:
                self._queue(entry)
            except KafkaException as again:
                raise self._refused(again.args[0], entry.record.topic) from again

    def _queue(self, entry: _Pending) -> None:
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
        self._pending[entry] = None

    async def _send_when_room(self, entry: _Pending) -> None:
        """Queue ``entry`` once deliveries free room, behind every record already waiting."""
        loop = asyncio.get_running_loop()
        self._blocked += 1
        try:
            async with self._in_order:
                deadline = loop.time() + self._timeout_s
                while True:
                    if self._state is _State.CLOSED:
                        raise self._unavailable("the producer shut down")
                    try:
                        self._send(entry)
                        return
                    except BufferError:
                        pass
                    left = deadline - loop.time()
                    if left <= 0:
                        self._count_error(QUEUE_FULL_ERROR)
                        raise self._unavailable(
                            f"the local queue stayed full for {self._timeout_s:g}s"
                        )
                    self._room.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(ROOM_WAIT_S, left)):
                            await self._room.wait()
        finally:
            self._blocked -= 1

    def _settle(self, reports: list[_Report], fatal: Fatal | None, now: float) -> None:
        """Settle one poll round's delivery reports, on the event loop.

        Deliveries are settled before a broken producer is replaced, so records it did
        deliver are not produced twice.
        """
        pending = self._pending
        broken = fatal[1] if fatal is not None and fatal[0] == self._generation else None
        delivered: dict[str, int] = {}
        observe = self._metrics.produce_latency.observe
        for entry, generation, error in reports:
            if generation != entry.generation or entry not in pending:
                continue  # reported by a replaced producer, or already settled
            if error is None:
                del pending[entry]
                topic = entry.record.topic
                delivered[topic] = delivered.get(topic, 0) + 1
                observe(now - entry.produced_at)
                if not entry.future.done():
                    entry.future.set_result(None)
            elif is_producer_fatal(error) and self._state is _State.RUNNING:
                broken = f"{error.name()}: {error.str()}"  # stays pending: produced again
            else:
                self._fail(entry, self._refused(error, entry.record.topic))
        if delivered:
            for topic, count in delivered.items():
                self._produced_counter(topic).inc(count)
            self._metrics.broker_up.set(1)
        if broken is not None:
            self._recreate(broken)
        self._room.set()

    def _recreate(self, reason: str) -> None:
        """Replace the producer and produce its undelivered records again, in order."""
        if self._state is not _State.RUNNING:
            return
        self._replace_producer()
        self._metrics.producer_recreated.inc()
        log.warning(
            "replaced the Kafka producer",
            extra={"reason": reason, "undelivered": len(self._pending)},
        )
        now = time.monotonic()
        for entry in list(self._pending):
            if now >= entry.deadline:
                self._fail(entry, self._unavailable("delivery timed out while replacing"))
                continue
            try:
                self._queue(entry)
            except (BufferError, KafkaException, SluiceError) as exc:
                self._fail(entry, self._unavailable(f"could not produce again: {exc}"))

    def _fail(self, entry: _Pending, error: SluiceError) -> None:
        self._pending.pop(entry, None)
        if not entry.future.done():
            entry.future.set_exception(error)

    def _refused(self, error: KafkaError, topic: str) -> SluiceError:
        self._count_error(error.name())
        return refusal(error, topic, self._retry_after_ms)

    def _unavailable(self, what: str) -> Unavailable:
        return Unavailable(reasons.KAFKA_UNAVAILABLE, f"Kafka: {what}", self._retry_after_ms)

    def _count_error(self, name: str) -> None:
        counter = self._errors.get(name)
        if counter is None:
            counter = self._errors[name] = self._metrics.delivery_errors.labels(error=name)
        counter.inc()

    def _produced_counter(self, topic: str) -> Any:
        counter = self._produced.get(topic)
        if counter is None:
            counter = self._produced[topic] = self._metrics.records_produced.labels(topic=topic)
        return counter
