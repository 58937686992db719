"""Deliveries.settle: how one poll round's delivery reports settle the records they name."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry

from sluice.core.batch import Record
from sluice.core.config.kafka import BreakerConfig
from sluice.core.errors import DeliveryFailed, Unavailable
from sluice.delivery.breaker import BreakerState, CircuitBreaker
from sluice.delivery.kafka.deliveries import Deliveries, Pending
from sluice.ops.metrics import Metrics

TIMED_OUT = KafkaError(KafkaError._MSG_TIMED_OUT)
TOO_LARGE = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
PURGED = KafkaError(KafkaError._PURGE_QUEUE)
FENCED = KafkaError(KafkaError.UNKNOWN_PRODUCER_ID)


class Spilled:
    """An ``on_purged`` hook that keeps what it is given."""

    def __init__(self) -> None:
        self.records: list[tuple[Record, asyncio.Future[None], float]] = []

    def __call__(self, record: Record, future: asyncio.Future[None], produced_at: float) -> None:
        self.records.append((record, future, produced_at))


class Setup:
    def __init__(self, on_purged: Spilled | None = None, threshold: int = 3) -> None:
        self.registry = CollectorRegistry()
        self.breaker = CircuitBreaker(BreakerConfig(failure_threshold=threshold))
        self.deliveries = Deliveries(Metrics(self.registry), self.breaker, 1234, on_purged)

    def pending(
        self, topic: str = "readings", produced_at: float = 1.0, spill: bool = True
    ) -> Pending:
        record = Record(topic, b"k", b"v", [], 1)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = Pending(record, future, produced_at, produced_at + 30, spill, generation=1)
        self.deliveries.pending[entry] = None
        return entry

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


async def test_a_delivered_record_resolves_is_counted_and_closes_a_half_open_breaker() -> None:
    setup = Setup()
    setup.breaker.trip("test")
    setup.breaker.probe_succeeded()
    entry = setup.pending()

    broken = setup.deliveries.settle([(entry, 1, None)], now=5.0, may_recreate=True)

    assert broken is None
    assert entry.future.result() is None
    assert entry not in setup.deliveries.pending
    assert setup.sample("sluice_records_produced_total", topic="readings") == 1
    assert setup.deliveries.last_delivery_at == 5.0
    assert setup.breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(("error", "kind"), [(TOO_LARGE, DeliveryFailed), (TIMED_OUT, Unavailable)])
async def test_a_refused_record_fails_final_or_retryable_and_is_counted(
    error: KafkaError, kind: type[Exception]
) -> None:
    setup = Setup()
    entry = setup.pending()

    setup.deliveries.settle([(entry, 1, error)], now=5.0, may_recreate=True)

    assert isinstance(entry.future.exception(), kind)
    assert entry not in setup.deliveries.pending
    assert setup.sample("sluice_delivery_errors_total", error=error.name()) == 1


async def test_retryable_failures_in_a_row_trip_the_breaker_and_final_ones_do_not() -> None:
    setup = Setup(threshold=2)
    final = [setup.pending() for _ in range(3)]
    setup.deliveries.settle([(e, 1, TOO_LARGE) for e in final], now=5.0, may_recreate=True)
    assert setup.breaker.state is BreakerState.CLOSED

    retryable = [setup.pending() for _ in range(2)]
    setup.deliveries.settle([(e, 1, TIMED_OUT) for e in retryable], now=6.0, may_recreate=True)

    assert setup.breaker.state is BreakerState.OPEN


async def test_a_purged_record_goes_to_on_purged_with_its_future_and_produce_time() -> None:
    spilled = Spilled()
    setup = Setup(spilled)
    entry = setup.pending(produced_at=3.5)

    setup.deliveries.settle([(entry, 1, PURGED)], now=5.0, may_recreate=True)

    assert spilled.records == [(entry.record, entry.future, 3.5)]
    assert not entry.future.done()  # the spool settles it once the record is stored
    assert entry not in setup.deliveries.pending
    assert setup.breaker.state is BreakerState.CLOSED  # a purge is no delivery failure


@pytest.mark.parametrize("hooked", [False, True])
async def test_a_purged_record_without_a_hook_or_not_to_be_spilled_fails(hooked: bool) -> None:
    spilled = Spilled()
    setup = Setup(spilled if hooked else None)
    entry = setup.pending(spill=False) if hooked else setup.pending()

    setup.deliveries.settle([(entry, 1, PURGED)], now=5.0, may_recreate=True)

    assert spilled.records == []
    assert isinstance(entry.future.exception(), Unavailable)


async def test_a_producer_fatal_report_leaves_its_record_pending_and_says_what_broke() -> None:
    setup = Setup()
    entry = setup.pending()

    broken = setup.deliveries.settle([(entry, 1, FENCED)], now=5.0, may_recreate=True)

    assert broken is not None
    assert "UNKNOWN_PRODUCER_ID" in broken
    assert entry in setup.deliveries.pending
    assert not entry.future.done()


async def test_a_producer_fatal_report_while_closing_fails_the_record() -> None:
    setup = Setup()
    entry = setup.pending()

    broken = setup.deliveries.settle([(entry, 1, FENCED)], now=5.0, may_recreate=False)

    assert broken is None
    assert isinstance(entry.future.exception(), Unavailable)


async def test_reports_of_a_replaced_producer_or_a_settled_record_are_ignored() -> None:
    setup = Setup()
    entry = setup.pending()
    setup.deliveries.settle([(entry, 0, TOO_LARGE)], now=5.0, may_recreate=True)
    assert not entry.future.done()  # generation 0 was replaced by generation 1

    setup.deliveries.settle([(entry, 1, None), (entry, 1, TOO_LARGE)], now=6.0, may_recreate=True)

    assert entry.future.result() is None
    assert setup.sample("sluice_delivery_errors_total", error=TOO_LARGE.name()) is None


async def test_waiting_since_is_the_later_of_the_oldest_record_and_the_last_delivery() -> None:
    setup = Setup()
    assert setup.deliveries.waiting_since() is None
    older, newer = setup.pending(produced_at=1.0), setup.pending(produced_at=2.0)
    assert setup.deliveries.oldest_at() == 1.0
    assert setup.deliveries.waiting_since() == 1.0

    setup.deliveries.settle([(newer, 1, None)], now=4.0, may_recreate=True)

    assert setup.deliveries.oldest_at() == older.produced_at
    assert setup.deliveries.waiting_since() == 4.0
