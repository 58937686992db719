"""The asynchronous Kafka producer: confluent-kafka's ``Producer`` driven from asyncio.

- A dedicated poller thread calls ``poll()``. The delivery reports of one poll round are
  collected and handed to the event loop with ONE ``call_soon_threadsafe``, which resolves
  the records' futures.
- ``BufferError`` (librdkafka's local queue is full) is backpressure: ``produce`` waits for
  deliveries to free room, in arrival order so per-key order holds, for at most the delivery
  timeout, then raises ``Unavailable``.
- A broken idempotent producer (a fatal error, or an endless epoch bump: Tansu forgets
  producer ids when it restarts, and librdkafka then bumps its epoch forever without a fatal
  error) is replaced, and its undelivered records are produced again on the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Producer

from sluice import reasons
from sluice.batch import Record
from sluice.errors import SluiceError, Unavailable
from sluice.kafka.config import KafkaConfig
from sluice.kafka.outcomes import (
    BROKER_DOWN_ERRORS,
    QUEUE_FULL_ERROR,
    is_producer_fatal,
    refusal,
)
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)

POLL_INTERVAL_S: Final = 0.1
ROOM_WAIT_S: Final = 0.02
"""Longest wait for a delivery before retrying a produce that found the queue full."""
DRAIN_ROUND_S: Final = 0.1
PROBE_INTERVAL_S: Final = 1.0
PROBE_TIMEOUT_S: Final = 0.5
STATS_INTERVAL_MS: Final = 1000
EPOCH_STORM: Final = 3
"""Producer-epoch bumps within one statistics interval that mean the producer is wedged."""

_EPOCH = re.compile(r'"producer_epoch":\s*(-?\d+)')


class _State(Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True, eq=False)
class _Pending:
    """A record handed to librdkafka and not yet reported delivered."""

    record: Record
    future: asyncio.Future[None]
    produced_at: float
    deadline: float
    generation: int = field(default=0)


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
        self._producer: Producer | None = None
        self._generation = 0
        self._pending: dict[_Pending, None] = {}
        self._room = asyncio.Event()
        self._in_order = asyncio.Lock()
        self._blocked = 0
        self._closing: asyncio.Task[None] | None = None
        self._produced: dict[str, Any] = {}
        self._errors: dict[str, Any] = {}
        # Touched only by the thread that polls (the poller, then the shutdown drain).
        self._reports: list[_Report] = []
        self._fatal: tuple[int, str] | None = None
        self._last_epoch: tuple[int, int] | None = None
        self._down = True
        self._retired: deque[Producer] = deque()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def undelivered(self) -> int:
        """Records handed to librdkafka whose delivery is not yet reported."""
        return len(self._pending)

    async def start(self) -> None:
        """Create the producer and its poller thread."""
        if self._state is not _State.NEW:
            return
        self._loop = asyncio.get_running_loop()
        self._generation = 1
        self._producer = self._create(self._generation)
        self._state = _State.RUNNING
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-poller", daemon=True)
        self._poller.start()

    async def produce(
        self, record: Record, future: asyncio.Future[None] | None = None
    ) -> asyncio.Future[None]:
        """Hand ``record`` to librdkafka; the returned future resolves once it is delivered.

        Pass ``future`` to have that future resolved instead of a new one. The future gets a
        ``DeliveryFailed`` (final refusal) or ``Unavailable`` (retryable) on failure. Raises
        either directly when the record cannot even be queued, e.g. when the local queue
        stays full for the whole delivery timeout.
        """
        loop = self._loop
        if self._state is not _State.RUNNING or loop is None:
            raise Unavailable(
                reasons.KAFKA_UNAVAILABLE, "the Kafka producer is not running", self._retry_after_ms
            )
        now = time.monotonic()
        entry = _Pending(
            record, loop.create_future() if future is None else future, now, now + self._timeout_s
        )
        if not self._blocked:
            try:
                self._send(entry)
                return entry.future
            except BufferError:
                pass
        await self._send_when_room(entry)
        return entry.future

    async def shutdown(self) -> None:
        """Flush what librdkafka holds (bounded by the delivery timeout) and stop polling.

        Idempotent. Records still undelivered at the deadline fail with ``Unavailable``.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    # -- the event loop side ---------------------------------------------------------------

    def _create(self, generation: int) -> Producer:
        config = self._config
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
            "statistics.interval.ms": STATS_INTERVAL_MS,
            **config.client,
            "error_cb": partial(self._on_error, generation),
            "stats_cb": partial(self._on_stats, generation),
        }
        return Producer(settings)

    def _send(self, entry: _Pending) -> None:
        """Queue ``entry`` on the producer, replacing a fatally broken producer once."""
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
        producer = self._producer
        if producer is None:
            raise Unavailable(
                reasons.KAFKA_UNAVAILABLE, "the Kafka producer is shut down", self._retry_after_ms
            )
        record = entry.record
        generation = self._generation
        producer.produce(
            record.topic,
            record.value,
            record.key,
            headers=record.headers,  # type: ignore[arg-type]  # list is invariant; bytes is allowed
            on_delivery=partial(self._collect, entry, generation),
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
                        raise Unavailable(
                            reasons.KAFKA_UNAVAILABLE,
                            "the Kafka producer shut down",
                            self._retry_after_ms,
                        )
                    try:
                        self._send(entry)
                        return
                    except BufferError:
                        pass
                    left = deadline - loop.time()
                    if left <= 0:
                        self._count_error(QUEUE_FULL_ERROR)
                        raise Unavailable(
                            reasons.KAFKA_UNAVAILABLE,
                            f"the Kafka producer queue stayed full for {self._timeout_s:g}s",
                            self._retry_after_ms,
                        )
                    self._room.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(ROOM_WAIT_S, left)):
                            await self._room.wait()
        finally:
            self._blocked -= 1

    def _resolve(self, reports: list[_Report], fatal: tuple[int, str] | None, now: float) -> None:
        """Settle the futures of one poll round's delivery reports (on the event loop)."""
        if fatal is not None and fatal[0] == self._generation:
            self._recreate(fatal[1])
        pending = self._pending
        broken: KafkaError | None = None
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
                broken = error  # stays pending: produced again by the new producer
            else:
                self._fail(entry, self._refused(error, entry.record.topic))
        if delivered:
            for topic, count in delivered.items():
                self._produced_counter(topic).inc(count)
            self._metrics.broker_up.set(1)
        if broken is not None:
            self._recreate(f"{broken.name()}: {broken.str()}")
        self._room.set()

    def _recreate(self, reason: str) -> None:
        """Replace the producer and produce its undelivered records again, in order."""
        if self._state is not _State.RUNNING or self._producer is None:
            return
        self._retired.append(self._producer)
        self._generation += 1
        self._producer = self._create(self._generation)
        self._metrics.producer_recreated.inc()
        log.warning(
            "replacing the Kafka producer",
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

    async def _close(self) -> None:
        if self._state is _State.NEW:
            self._state = _State.CLOSED
            return
        self._state = _State.CLOSING
        loop = asyncio.get_running_loop()
        self._stop.set()
        if self._poller is not None:
            await loop.run_in_executor(None, self._poller.join)
        await loop.run_in_executor(None, self._drain, time.monotonic() + self._timeout_s)
        self._state = _State.CLOSED
        for entry in list(self._pending):
            self._fail(entry, self._unavailable("the producer shut down before delivery"))
        self._room.set()
        leftovers = [self._producer]
        self._producer = None
        await loop.run_in_executor(None, leftovers.clear)  # librdkafka's destroy may block

    # -- the polling thread side -----------------------------------------------------------

    def _poll_loop(self) -> None:
        next_probe = 0.0
        while not self._stop.is_set():
            producer = self._producer
            if producer is None:
                return
            producer.poll(POLL_INTERVAL_S)
            self._retire()
            if self._down and time.monotonic() >= next_probe:
                self._probe(producer)
                next_probe = time.monotonic() + PROBE_INTERVAL_S
            self._ship()

    def _drain(self, deadline: float) -> None:
        producer = self._producer
        if producer is None:
            return
        while True:
            left = deadline - time.monotonic()
            remaining = producer.flush(max(0.0, min(DRAIN_ROUND_S, left)))
            self._retire()
            self._ship()
            if (remaining == 0 and not self._blocked) or left <= 0:
                break
        producer.purge()
        producer.poll(0)
        self._ship()

    def _collect(self, entry: _Pending, generation: int, error: KafkaError | None, _: Any) -> None:
        self._reports.append((entry, generation, error))

    def _ship(self) -> None:
        reports, fatal = self._reports, self._fatal
        if not reports and fatal is None:
            return
        self._reports = []
        self._fatal = None
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed under us
                loop.call_soon_threadsafe(self._resolve, reports, fatal, time.monotonic())

    def _retire(self) -> None:
        while self._retired:
            old = self._retired.popleft()
            old.purge()
            old.poll(0)
            del old

    def _probe(self, producer: Producer) -> None:
        try:
            producer.list_topics(timeout=PROBE_TIMEOUT_S)
        except KafkaException:
            return
        self._down = False
        self._metrics.broker_up.set(1)

    def _on_error(self, generation: int, error: KafkaError) -> None:
        if error.code() in BROKER_DOWN_ERRORS:
            self._down = True
            self._metrics.broker_up.set(0)
        if is_producer_fatal(error) and generation == self._generation:
            self._fatal = (generation, f"{error.name()}: {error.str()}")
        log.warning(
            "Kafka client error",
            extra={"error": error.name(), "detail": error.str(), "fatal": bool(error.fatal())},
        )

    def _on_stats(self, generation: int, stats: str) -> None:
        match = _EPOCH.search(stats)
        if match is None:
            return
        epoch = int(match[1])
        last, self._last_epoch = self._last_epoch, (generation, epoch)
        if last is None or last[0] != generation or generation != self._generation:
            return
        if epoch - last[1] >= EPOCH_STORM:
            self._fatal = (
                generation,
                f"producer epoch bumped {epoch - last[1]} times in {STATS_INTERVAL_MS} ms: "
                "the cluster keeps refusing the producer id",
            )
