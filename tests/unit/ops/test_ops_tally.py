"""Tallies: hot-path counts published to their families on collection and on a timer, with
the same exposition as updating the families directly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from sluice.ops import tally as tally_module
from sluice.ops.tally import Tallies

BUCKETS = (0.001, 0.01, 0.1, 1.0)
VALUES = [0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 3.0, 0.01, 0.0]


def families(registry: CollectorRegistry) -> tuple[Counter, Gauge, Histogram]:
    counter = Counter("c", "a counter", ["status"], registry=registry)
    gauge = Gauge("g", "a gauge", registry=registry)
    histogram = Histogram("h", "a histogram", buckets=BUCKETS, registry=registry)
    return counter, gauge, histogram


def exposition(registry: CollectorRegistry) -> list[str]:
    """The text exposition without the ``_created`` samples, which hold creation times."""
    lines = generate_latest(registry).decode().splitlines()
    return [line for line in lines if "_created" not in line]


def test_published_tallies_expose_exactly_what_direct_updates_do() -> None:
    direct_registry = CollectorRegistry()
    counter, gauge, histogram = families(direct_registry)
    for value in VALUES:
        counter.labels("ok").inc(2)
        gauge.inc(5)
        gauge.dec(3)
        histogram.observe(value)

    tallied_registry = CollectorRegistry()
    tallies = Tallies(tallied_registry)
    counter, gauge, histogram = families(tallied_registry)
    counted, held, observed = (
        tallies.count(counter.labels("ok")),
        tallies.count(gauge),
        tallies.histogram(histogram, BUCKETS),
    )
    for value in VALUES:
        counted.add(2)
        held.add(5)
        held.add(-3)
        observed.observe(value)

    assert exposition(tallied_registry) == exposition(direct_registry)


def test_counts_by_label_expose_a_child_per_value_as_direct_updates_do() -> None:
    statuses = ["ok", "partial", "ok", "rejected", "ok"]
    direct_registry = CollectorRegistry()
    counter, _, _ = families(direct_registry)
    for status in statuses:
        counter.labels(status=status).inc()

    tallied_registry = CollectorRegistry()
    tallies = Tallies(tallied_registry)
    counter, _, _ = families(tallied_registry)
    by_status = tallies.by_label(counter, "status")
    for status in statuses:
        by_status.add(status)

    assert exposition(tallied_registry) == exposition(direct_registry)
    assert tallied_registry.get_sample_value("c_total", {"status": "ok"}) == 3


def test_a_collection_publishes_first_and_publishing_twice_adds_nothing() -> None:
    registry = CollectorRegistry()
    tallies = Tallies(registry)
    counter, _, histogram = families(registry)
    counted = tallies.count(counter.labels("ok"))
    observed = tallies.histogram(histogram, BUCKETS)

    counted.add(3)
    observed.observe(0.5)
    assert registry.get_sample_value("c_total", {"status": "ok"}) == 3
    assert registry.get_sample_value("h_count") == 1
    assert registry.get_sample_value("h_bucket", {"le": "1.0"}) == 1
    assert registry.get_sample_value("h_bucket", {"le": "0.1"}) == 0

    tallies.publish()
    assert registry.get_sample_value("c_total", {"status": "ok"}) == 3
    assert registry.get_sample_value("h_sum") == pytest.approx(0.5)


class Recorder:
    """A counter that records each increment it is given."""

    def __init__(self) -> None:
        self.increments: list[float] = []

    def inc(self, amount: float = 1) -> None:
        self.increments.append(amount)


async def test_run_publishes_on_its_interval_and_once_more_when_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tally_module, "PUBLISH_INTERVAL_S", 0.01)
    recorder = Recorder()
    tallies = Tallies(CollectorRegistry())
    counted = tallies.count(recorder)  # type: ignore[arg-type]
    task = asyncio.create_task(tallies.run())

    counted.add(1)
    counted.add(2)
    await asyncio.sleep(0.05)
    assert recorder.increments == [3]
    counted.add(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.increments == [3, 1]


MULTIPROCESS = """
import sys
from prometheus_client import CollectorRegistry, Counter, Histogram
from sluice.ops.tally import Tallies
registry = CollectorRegistry()
tallies = Tallies(registry)
counter = Counter("c", "a counter", registry=registry)
histogram = Histogram("h", "a histogram", buckets=(0.001, 0.01, 0.1, 1.0), registry=registry)
if sys.argv[1] == "tallied":
    counted = tallies.count(counter)
    observed = tallies.histogram(histogram, (0.001, 0.01, 0.1, 1.0))
    for value in (0.0005, 0.05, 0.7, 3.0):
        counted.add(2)
        observed.observe(value)
    tallies.publish()
else:
    for value in (0.0005, 0.05, 0.7, 3.0):
        counter.inc(2)
        histogram.observe(value)
"""


@pytest.mark.parametrize("mode", ["tallied", "direct"])
def test_under_workers_published_tallies_reach_the_multiprocess_files(
    mode: str, tmp_path: Path
) -> None:
    directory = tmp_path / mode
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", MULTIPROCESS, mode], env=env, check=True, timeout=60)

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))

    assert registry.get_sample_value("c_total") == 8
    assert registry.get_sample_value("h_count") == 4
    assert registry.get_sample_value("h_bucket", {"le": "0.001"}) == 1
    assert registry.get_sample_value("h_bucket", {"le": "1.0"}) == 3
    assert registry.get_sample_value("h_sum") == pytest.approx(3.7505)
