"""The cyclic garbage collector's settings for a worker's steady state.

A worker allocates tens of short-lived container objects per batch (futures, coroutines,
records and their headers) and makes no reference cycles on its path. With CPython's default
thresholds a young collection runs every few dozen batches, and a full one, which traverses
every object the process holds (the dedup cache among them), every few thousand: measured
here, ~8 µs per 100-reading batch, about a tenth of the pipeline's CPU, and nothing collected.
Once started, a worker freezes what it holds (modules, settings, the pipeline: none of it is
ever garbage) and raises the young threshold, so that collections still run, only rarely.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
"""Net container allocations between young collections (CPython's default is 700)."""


def tune_for_steady_state() -> None:
    """Move everything allocated so far out of the collector's sight, and collect rarely."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
