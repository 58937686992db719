"""``--workers 2`` against 1 worker at the same held rate, in interleaved pairs.

Both hold the same readings/s, well below saturation (40% of what the unpinned 1-worker run
reached), over the same 16 connections, so that the comparison is of what each reading
costs, not of how the server and the load generator share two cores. The pairs alternate
(1, 2, 1, 2, ...) so that the machine's drift hits both alike; the ratio of each pair is
the 2-worker server's CPU per reading, supervisor included, over the 1-worker server's.
Each 2-worker run also says where its CPU went (supervisor, each worker, each kind of
thread) and how SO_REUSEPORT spread the 16 connections over the two workers.

The floor runs the same pairs, as one process and as two serving the one port
(``--processes 2``), within each pair: what splitting a held rate over two processes costs
with nothing of Sluice's, the same-round baseline for Sluice's ratio.
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
FLOOR_ONE: Final = dataclasses.replace(
    ONE, name="floor_1_held", title="the floor, 1 process, held rate", server="floor"
)
FLOOR_TWO: Final = dataclasses.replace(
    TWO, name="floor_2_held", title="the floor, 2 processes, held rate", server="floor"
)


def measure(bench: Bench, rate: float, pairs: int = PAIRS) -> dict[str, Any]:
    """Run ``pairs`` interleaved pairs at ``rate`` readings/s, Sluice's and the floor's; the
    ratios and attribution."""
    rows = []
    floor_rows = []
    for _ in range(pairs):
        one = bench.run(dataclasses.replace(ONE, rate=rate))
        two = bench.run(dataclasses.replace(TWO, rate=rate))
        rows.append((one, two))
        floor_one = bench.run(dataclasses.replace(FLOOR_ONE, rate=rate))
        floor_two = bench.run(dataclasses.replace(FLOOR_TWO, rate=rate))
        floor_rows.append((floor_one, floor_two))
    ratios = _ratios(rows)
    floor_ratios = _ratios(floor_rows)
    over_floor = [ratio / floor for ratio, floor in zip(ratios, floor_ratios, strict=True)]
    kinds = sorted(
        {kind for pair in rows for run in pair for kind in run["cpu_s_per_million_by_thread"]}
    )
    return {
        "rate": round(rate, 1),
        "pairs": len(rows),
        **_pair_figures(rows, ratios),
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
        "floor": {
            **_pair_figures(floor_rows, floor_ratios),
            "connections_per_process": [
                two["processes"]["connections_per_worker"] for _, two in floor_rows
            ],
        },
        "over_floor": round(statistics.median(over_floor), 3),
        "over_floor_range": [round(min(over_floor), 3), round(max(over_floor), 3)],
        "errors": [
            error for one, two in rows + floor_rows for error in one["errors"] + two["errors"]
        ][:5],
    }


Rows = list[tuple[dict[str, Any], dict[str, Any]]]
"""Each pair's 1-process and 2-process results."""


def _ratios(rows: Rows) -> list[float]:
    """Each pair's 2-process CPU per reading over its 1-process one."""
    return [two["cpu_s_per_million"] / one["cpu_s_per_million"] for one, two in rows]


def _pair_figures(rows: Rows, ratios: list[float]) -> dict[str, Any]:
    """The pairs' median ratio, its range and each ratio, and each side's median CPU."""
    return {
        "ratio": round(statistics.median(ratios), 3),
        "range": [round(min(ratios), 3), round(max(ratios), 3)],
        "ratios": [round(ratio, 3) for ratio in ratios],
        "one_cpu_s_per_million": _median(one["cpu_s_per_million"] for one, _ in rows),
        "two_cpu_s_per_million": _median(two["cpu_s_per_million"] for _, two in rows),
    }


def _median(values: Iterable[float]) -> float:
    return round(float(statistics.median(list(values))), 3)
