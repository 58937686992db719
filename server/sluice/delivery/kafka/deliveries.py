"""The records handed to librdkafka and not yet settled, and how a delivery report settles one.

A report settles its record's future: delivered, refused (``DeliveryFailed`` for good,
``Unavailable`` when it may pass), or, for a record purged unsent from librdkafka's queue,
handed to ``on_purged`` (the durable sink spools it) to be stored instead. A producer-fatal
error leaves the record pending, to be produced again by a new producer. Reports also feed
the circuit breaker and the delivery metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError

from sluice.core.batch import Record
from sluice.core.errors import DeliveryFailed, SluiceError
from sluice.delivery.breaker import CircuitBreaker
from sluice.delivery.kafka.client import DeliveryCounters
from sluice.delivery.kafka.outcomes import PURGED_UNSENT, is_producer_fatal, refusal
from sluice.ops.metrics import Metrics

SpillHook = Callable[[Record, asyncio.Future[None], float], None]
"""Takes a record librdkafka gave back unsent, the future to settle once it is stored, and
when it was first produced."""


@dataclass(slots=True, eq=False)
class Pending:
    """A record handed to librdkafka whose delivery is not yet reported."""

    record: Record
    future: asyncio.Future[None]
    produced_at: float
    deadline: float
    spill: bool
    generation: int = 0


Report = tuple[Pending, int, KafkaError | None]
"""A delivery report: the record, the producer generation that reported it, its error."""


class Deliveries:
    """The undelivered records, in the order they were produced."""

    def __init__(
        self,
        metrics: Metrics,
        breaker: CircuitBreaker,
        retry_after_ms: int,
        on_purged: SpillHook | None = None,
    ) -> None:
        self.pending: dict[Pending, None] = {}
        self._on_purged = on_purged
        self.last_delivery_at = 0.0
        self._observe = metrics.hot.produce_latency.observe
        self._breaker = breaker
        self._retry_after_ms = retry_after_ms
        self.counters = DeliveryCounters(metrics)

    def oldest_at(self) -> float | None:
        """When the oldest record still awaiting its report was produced."""
        for entry in self.pending:
            return entry.produced_at
        return None

    def waiting_since(self) -> float | None:
        """Since when records have waited with no delivery report at all (None: none wait)."""
        oldest = self.oldest_at()
        return None if oldest is None else max(oldest, self.last_delivery_at)

    def settle(self, reports: list[Report], now: float, may_recreate: bool) -> str | None:
        """Settle one poll round's reports; returns what broke the producer, if a report
        says it is broken (and ``may_recreate``): those records stay pending."""
        pending = self.pending
        broken = None
        delivered: dict[str, int] = {}
        for entry, generation, error in reports:
            if generation != entry.generation or entry not in pending:
                continue  # reported by a replaced producer, or already settled
            if error is None:
                del pending[entry]
                topic = entry.record.topic
                delivered[topic] = delivered.get(topic, 0) + 1
                self._observe(now - entry.produced_at)
                if not entry.future.done():
                    entry.future.set_result(None)
            elif is_producer_fatal(error) and may_recreate:
                broken = f"{error.name()}: {error.str()}"
            elif error.code() == PURGED_UNSENT and entry.spill and self._on_purged is not None:
                del pending[entry]
                self._on_purged(entry.record, entry.future, entry.produced_at)
            else:
                refused = self.refused(error, entry.record.topic)
                self.fail(entry, refused)
                if error.code() != PURGED_UNSENT and not isinstance(refused, DeliveryFailed):
                    self._breaker.record_failure(error.name())
        if delivered:
            for topic, count in delivered.items():
                self.counters.produced(topic, count)
            self.last_delivery_at = now
            self._breaker.record_success()
        return broken

    def fail(self, entry: Pending, error: SluiceError) -> None:
        """Settle ``entry`` with ``error``."""
        self.pending.pop(entry, None)
        if not entry.future.done():
            entry.future.set_exception(error)

    def refused(self, error: KafkaError, topic: str) -> SluiceError:
        """The domain error for a record Kafka refused, counted."""
        self.counters.error(error.name())
        return refusal(error, topic, self._retry_after_ms)
