"""Hot-path metric updates, counted in plain Python and published to Prometheus in rounds.

prometheus_client takes a lock on every update, and under ``--workers`` it also writes the
value into a memory-mapped file. The per-batch path updates about ten values per batch, so
those updates cost more than the bookkeeping they record. A ``Tallies`` set keeps the
per-batch counts as plain numbers, touched only by the event loop's thread, and ``publish()``
adds them to the real families:

- whenever the registry is collected (a scrape of ``/metrics`` in one process, or
  ``registry.get_sample_value``): a single process's figures are then exact;
- every ``PUBLISH_INTERVAL_S`` from ``run()``, so that under ``--workers``, where a scrape
  reads every worker's files, a scrape that waits a little longer (``sluice.ops.app``) sees
  everything counted before it began;
- on ``publish()`` at shutdown.

A gauge whose owner already keeps the value (the in-flight budget's held bytes, say) is not
tallied at all: a ``GaugeReading`` sets it from the owner's own number when published.

Only the event loop's thread may update a tally or publish (a scrape is served on the loop).
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

PUBLISH_INTERVAL_S: Final = 0.1


class Publisher(Protocol):
    """Anything ``Tallies`` publishes: it hands what it kept to its Prometheus families."""

    def publish(self) -> None: ...


class CountTally:
    """Increments of one counter (or labelled child), or +/- deltas of one gauge."""

    __slots__ = ("_pending", "_target")

    def __init__(self, target: Counter | Gauge) -> None:
        self._target = target
        self._pending = 0.0

    def add(self, amount: float = 1) -> None:
        """Count ``amount`` (negative only for a gauge)."""
        self._pending += amount

    def publish(self) -> None:
        """Add what was counted since the last publish to the family."""
        pending, self._pending = self._pending, 0.0
        if pending:
            self._target.inc(pending)


class GaugeReading:
    """A gauge set, when published, to what ``read()`` returns then."""

    __slots__ = ("_read", "_target")

    def __init__(self, target: Gauge, read: Callable[[], float]) -> None:
        self._target = target
        self._read = read

    def publish(self) -> None:
        """Set the gauge to the current reading."""
        self._target.set(self._read())


class HistogramTally:
    """Observations of one histogram (or labelled child), kept as bucket counts and a sum."""

    __slots__ = ("_bounds", "_counts", "_sum", "_target")

    def __init__(self, target: Histogram, buckets: Iterable[float]) -> None:
        self._target = target
        self._bounds = [float(bound) for bound in buckets]
        if self._bounds[-1] != float("inf"):
            self._bounds.append(float("inf"))
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def observe(self, amount: float) -> None:
        """Observe ``amount``, as ``Histogram.observe`` would."""
        self._counts[bisect.bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def publish(self) -> None:
        """Add the observations since the last publish to the histogram's buckets and sum."""
        counts = self._counts
        if not any(counts):
            return
        target: Any = self._target
        # prometheus_client has no bulk observe: its buckets and sum are values of their own
        # (tests/unit/ops/test_ops_tally.py checks the exposition equals observing each one).
        for index, count in enumerate(counts):
            if count:
                target._buckets[index].inc(count)
                counts[index] = 0
        total, self._sum = self._sum, 0.0
        target._sum.inc(total)


class LabelledCounts:
    """Tallies of one counter family with one label, a child per value, made on first use."""

    __slots__ = ("_children", "_family", "_label", "_tallies")

    def __init__(self, tallies: Tallies, family: Counter, label: str) -> None:
        self._tallies = tallies
        self._family = family
        self._label = label
        self._children: dict[str, CountTally] = {}

    def add(self, value: str, amount: float = 1) -> None:
        """Count ``amount`` on the child labelled ``value``."""
        child = self._children.get(value)
        if child is None:
            child = self._tallies.count(self._family.labels(**{self._label: value}))
            self._children[value] = child
        child.add(amount)


class Tallies(Collector):
    """Every tally of one process, published together; registered first in its registry so
    that a collection publishes before the families are read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._tallies: list[Publisher] = []
        registry.register(self)

    def count(self, target: Counter | Gauge) -> CountTally:
        """A tally of ``target``'s increments (a gauge's: its deltas)."""
        tally = CountTally(target)
        self.add(tally)
        return tally

    def add(self, publisher: Publisher) -> None:
        """Publish ``publisher`` with the tallies (one that keeps its own figures)."""
        self._tallies.append(publisher)

    def reading(self, target: Gauge, read: Callable[[], float]) -> GaugeReading:
        """``target`` set to ``read()`` whenever the tallies are published."""
        gauge = GaugeReading(target, read)
        self.add(gauge)
        return gauge

    def by_label(self, family: Counter, label: str) -> LabelledCounts:
        """Tallies of ``family``'s children by the value of ``label``."""
        return LabelledCounts(self, family, label)

    def histogram(self, target: Histogram, buckets: Iterable[float]) -> HistogramTally:
        """A tally of ``target``'s observations; ``buckets`` are its declared bounds."""
        tally = HistogramTally(target, buckets)
        self.add(tally)
        return tally

    def publish(self) -> None:
        """Publish every tally."""
        for tally in self._tallies:
            tally.publish()

    def collect(self) -> Iterable[Any]:
        """Called by the registry before it reads the families: publish, expose nothing."""
        self.publish()
        return ()

    async def run(self) -> None:
        """Publish every ``PUBLISH_INTERVAL_S`` until cancelled, and once more then."""
        try:
            while True:
                await asyncio.sleep(PUBLISH_INTERVAL_S)
                self.publish()
        finally:
            self.publish()
