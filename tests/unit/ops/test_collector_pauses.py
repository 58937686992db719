"""CollectorPauses: every collection of the cyclic garbage collector, timed by generation."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from sluice.ops.collector_pauses import CollectorPauses
from sluice.ops.metrics import Metrics


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def pauses(registry: CollectorRegistry) -> Iterator[CollectorPauses]:
    metrics = Metrics(registry)
    timer = CollectorPauses(metrics.gc_pauses, metrics.tallies)
    yield timer
    timer.stop()


def timed(registry: CollectorRegistry, generation: int) -> tuple[float, float]:
    """How many collections of ``generation`` were timed, and their total seconds."""
    labels = {"generation": str(generation)}
    count = registry.get_sample_value("sluice_gc_pause_seconds_count", labels)
    total = registry.get_sample_value("sluice_gc_pause_seconds_sum", labels)
    assert count is not None
    assert total is not None
    return count, total


def test_each_collection_is_timed_under_its_generation(
    pauses: CollectorPauses, registry: CollectorRegistry
) -> None:
    pauses.start()
    gc.collect(0)
    gc.collect(2)
    gc.collect(2)

    young, young_seconds = timed(registry, 0)
    full, full_seconds = timed(registry, 2)
    assert young >= 1  # the collector may run a young collection of its own meanwhile
    assert full >= 2
    assert young_seconds > 0
    assert full_seconds > 0


def test_nothing_is_timed_before_start_or_after_stop(
    pauses: CollectorPauses, registry: CollectorRegistry
) -> None:
    gc.collect(2)
    pauses.start()
    pauses.start()  # a second start does not time a collection twice
    gc.collect(2)
    pauses.stop()
    gc.collect(2)

    assert timed(registry, 2)[0] == 1


def test_a_collection_run_by_another_thread_is_timed(
    pauses: CollectorPauses, registry: CollectorRegistry
) -> None:
    pauses.start()
    collector = threading.Thread(target=gc.collect, args=(1,))
    collector.start()
    collector.join()

    assert timed(registry, 1)[0] >= 1
