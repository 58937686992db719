"""How long the cyclic garbage collector stops the process: ``sluice_gc_pause_seconds``.

A collection stops the thread that runs it, and the event loop with it while the loop's
thread holds the GIL. With thousands of open streams a young collection has taken 70-120 ms
(``docs/operations.md``, "Memory"), which no other metric shows: Ack latency grows, CPU
does not. CPython reports the start and the end of every collection to
``gc.callbacks``; ``CollectorPauses`` times each one, by generation.

A collection runs on whichever thread allocated last, the Kafka poller's as well as the
loop's, so the callback only appends to a deque (atomic under the GIL; no collection starts
inside a callback). The durations reach the histogram when the tallies publish, on the event
loop's thread (``sluice.ops.tally``): ``/metrics`` lags by at most 0.1 s.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from typing import Final

from prometheus_client import Histogram

from sluice.ops.tally import HistogramTally, Tallies

PAUSE_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
GENERATIONS: Final = (0, 1, 2)


class CollectorPauses:
    """Times each collection while started, for ``family`` (labelled by ``generation``)."""

    def __init__(self, family: Histogram, tallies: Tallies) -> None:
        self._by_generation = [
            HistogramTally(family.labels(generation=str(generation)), PAUSE_BUCKETS)
            for generation in GENERATIONS
        ]
        self._pauses: deque[tuple[int, float]] = deque()
        self._started_at = 0.0
        tallies.add(self)

    def start(self) -> None:
        """Time every collection from now on."""
        if self._on_collection not in gc.callbacks:
            gc.callbacks.append(self._on_collection)

    def stop(self) -> None:
        """Stop timing collections; those timed so far are still published."""
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def publish(self) -> None:
        """Observe the pauses timed since the last publish, and publish them."""
        pauses, by_generation = self._pauses, self._by_generation
        while pauses:
            generation, seconds = pauses.popleft()
            by_generation[generation].observe(seconds)
        for tally in by_generation:
            tally.publish()

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        # Collections never nest, and one runs on one thread from start to stop.
        if phase == "start":
            self._started_at = time.perf_counter()
        else:
            self._pauses.append((info["generation"], time.perf_counter() - self._started_at))
