"""``--workers 2`` against 1 worker at the same held rate, in interleaved pairs.

Both hold the same readings/s, well below saturation (40% of what the unpinned 1-worker run
reached), over the same 16 connections, so that the comparison is of what each reading
costs, not of how the server and the load generator share two cores. The pairs alternate
(1, 2, 1, 2, ...) so that the machine's drift hits both alike; the ratio of each pair is
the 2-worker server's CPU per reading, supervisor included, over the 1-worker server's.
Each 2-worker run also says where its CPU went (supervisor, each worker, each kind of
thread) and how SO_REUSEPORT spread the 16 connections over the two workers.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable
from typing import Any, Final

from benchmarks.scenarios import Bench, Load, Scenario

PAIRS: Final = 5
HELD_SHARE: Final = 0.4
CONNECTIONS: Final = Load(processes=2, streams=8, window=16)
ONE: Final = Scenario(
    "workers_1_held", "1 worker, held rate, 16 connections", "sluice", pinned=False,
    load=CONNECTIONS,
)  # fmt: skip
TWO: Final = Scenario(
    "workers_2_held", "--workers 2, the same held rate, 16 connections", "sluice", workers=2,
    pinned=False, load=CONNECTIONS,
)  # fmt: skip


def measure(bench: Bench, rate: float, pairs: int = PAIRS) -> dict[str, Any]:
    """Run ``pairs`` interleaved pairs at ``rate`` readings/s; the ratios and attribution."""
    rows = []
    for _ in range(pairs):
        one = bench.run(dataclasses.replace(ONE, rate=rate))
        two = bench.run(dataclasses.replace(TWO, rate=rate))
        rows.append((one, two))
    ratios = [two["cpu_s_per_million"] / one["cpu_s_per_million"] for one, two in rows]
    kinds = sorted(
        {kind for pair in rows for run in pair for kind in run["cpu_s_per_million_by_thread"]}
    )
    return {
        "rate": round(rate, 1),
        "pairs": len(rows),
        "ratio": round(statistics.median(ratios), 3),
        "range": [round(min(ratios), 3), round(max(ratios), 3)],
        "ratios": [round(ratio, 3) for ratio in ratios],
        "one_cpu_s_per_million": _median(one["cpu_s_per_million"] for one, _ in rows),
        "two_cpu_s_per_million": _median(two["cpu_s_per_million"] for _, two in rows),
        "by_thread": {
            kind: {
                "one": _median(
                    one["cpu_s_per_million_by_thread"].get(kind, 0.0) for one, _ in rows
                ),
                "two": _median(
                    two["cpu_s_per_million_by_thread"].get(kind, 0.0) for _, two in rows
                ),
            }
            for kind in kinds
        },
        "supervisor_cpu_s_per_million": _median(
            two["processes"]["supervisor_cpu_s_per_million"] for _, two in rows
        ),
        "connections_per_worker": [two["processes"]["connections_per_worker"] for _, two in rows],
        "errors": [error for one, two in rows for error in one["errors"] + two["errors"]][:5],
    }


def _thread(rows: list[tuple[dict[str, Any], dict[str, Any]]], side: int, kind: str) -> float:
    """The median CPU-s per million readings of one kind of thread on one side of the pairs."""
    return _median(pair[side]["cpu_s_per_million_by_thread"].get(kind, 0.0) for pair in rows)


def _median(values: Iterable[float]) -> float:
    return round(float(statistics.median(list(values))), 3)
