"""The circuit breaker's state machine, on a fake clock, and the watch that trips it."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from sluice.core.config.kafka import BreakerConfig
from sluice.delivery.breaker import BreakerState, CircuitBreaker, jittered
from sluice.delivery.watch import BreakerWatch
from sluice.ops.metrics import Metrics

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
CONFIG = BreakerConfig(
    stall_timeout_ms=2000, failure_threshold=3, backoff_initial_ms=1000, backoff_max_ms=8000
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(rng: float = 1.0) -> tuple[CircuitBreaker, Clock, list[BreakerState]]:
    clock = Clock()
    subject = CircuitBreaker(CONFIG, clock, lambda: rng)
    seen: list[BreakerState] = []
    subject.subscribe(seen.append)
    return subject, clock, seen


def test_a_trip_opens_it_and_a_second_trip_changes_nothing() -> None:
    subject, _, seen = breaker()

    subject.trip("all brokers down")
    subject.trip("again")

    assert (subject.state, subject.is_open, seen) == (OPEN, True, [OPEN])


def test_failures_in_a_row_trip_it_and_a_delivery_in_between_resets_the_count() -> None:
    subject, _, _ = breaker()

    subject.record_failure("_MSG_TIMED_OUT")
    subject.record_failure("_MSG_TIMED_OUT")
    subject.record_success()
    subject.record_failure("_MSG_TIMED_OUT")
    subject.record_failure("_MSG_TIMED_OUT")
    assert subject.state is CLOSED
    subject.record_failure("_MSG_TIMED_OUT")

    assert subject.state is OPEN


def test_it_probes_after_the_backoff_and_closes_on_the_first_delivery() -> None:
    subject, clock, seen = breaker()
    subject.trip("stall")

    clock.now += 0.99
    assert not subject.probe_due()
    clock.now += 0.02
    assert subject.probe_due()
    subject.probe_succeeded()
    assert subject.state is HALF_OPEN
    assert not subject.is_open
    subject.record_success()

    assert seen == [OPEN, HALF_OPEN, CLOSED]


@pytest.mark.parametrize(("failed_probes", "wait_s"), [(0, 1.0), (1, 2.0), (2, 4.0), (5, 8.0)])
def test_each_failed_probe_doubles_the_wait_up_to_the_maximum(
    failed_probes: int, wait_s: float
) -> None:
    subject, clock, _ = breaker()
    subject.trip("stall")
    for _ in range(failed_probes):
        clock.now += 100
        subject.probe_failed("refused")
    opened = clock.now

    clock.now = opened + wait_s - 0.01
    assert not subject.probe_due()
    clock.now = opened + wait_s
    assert subject.probe_due()


def test_a_trip_while_half_open_reopens_it_with_a_longer_wait() -> None:
    subject, clock, seen = breaker()
    subject.trip("stall")
    clock.now += 1
    subject.probe_succeeded()

    subject.trip("stalled again")
    clock.now += 1.99

    assert seen == [OPEN, HALF_OPEN, OPEN]
    assert not subject.probe_due()


@pytest.mark.parametrize("rng", [0.0, 0.5, 1.0])
def test_jitter_keeps_each_wait_between_half_and_all_of_its_ceiling(rng: float) -> None:
    waits = [jittered(attempt, 0.5, 30.0, lambda: rng) for attempt in range(10)]
    ceilings = [min(30.0, 0.5 * 2**attempt) for attempt in range(10)]

    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))


def watch_of(
    subject: CircuitBreaker, clock: Clock, waiting: list[float | None], probe_ok: bool = True
) -> tuple[BreakerWatch, Metrics]:
    def probe() -> None:
        if not probe_ok:
            raise OSError("no route")

    metrics = Metrics(CollectorRegistry())
    watch = BreakerWatch(subject, metrics, lambda: waiting[0], probe, clock)
    subject.subscribe(watch.show)  # as the durable sink forwards each change
    return watch, metrics


async def test_the_watch_trips_on_a_stall_and_not_before() -> None:
    subject, clock, _ = breaker()
    waiting: list[float | None] = [clock.now]
    watch, metrics = watch_of(subject, clock, waiting)
    watch.start()
    try:
        clock.now += 1.9
        watch.check()
        assert subject.state is CLOSED
        assert metrics.registry.get_sample_value("sluice_broker_up") == 1
        clock.now += 0.2
        watch.check()
        assert subject.state is OPEN
        assert metrics.registry.get_sample_value("sluice_broker_up") == 0
        assert metrics.registry.get_sample_value("sluice_breaker_opened_total") == 1
    finally:
        await watch.stop()


async def test_nothing_waiting_is_no_stall() -> None:
    subject, clock, _ = breaker()
    watch, _ = watch_of(subject, clock, [None])

    clock.now += 3600
    watch.check()

    assert subject.state is CLOSED


@pytest.mark.parametrize(("probe_ok", "after"), [(True, HALF_OPEN), (False, OPEN)])
async def test_the_watch_runs_a_due_probe_off_the_loop(probe_ok: bool, after: BreakerState) -> None:
    subject, clock, _ = breaker()
    watch, metrics = watch_of(subject, clock, [None], probe_ok)
    subject.trip("stall")
    clock.now += 1.5

    watch.check()
    await watch.stop()  # waits for the probe

    assert subject.state is after
    assert metrics.registry.get_sample_value("sluice_broker_up") == (0 if after is OPEN else 1)
    await asyncio.sleep(0)
