"""What a reading costs at a held rate and at half of it, for Sluice and for its baselines.

    python -m benchmarks.held_rate --rate 131000 [--rounds 3]

Splitting one held rate over ``--workers 2`` halves what each worker serves. This runs, in
rotating turns within each round, with the 16 connections of the worker pairs
(``pairs.py``), nothing pinned:

- 1 Sluice worker at the rate, and at half of it;
- ``--workers 2`` at the rate (each worker serving about half);
- the transport ceiling and the floor at the rate, and at half of it.

If two workers cost what one worker costs at half the rate, the difference in the pairs is
what serving fewer readings per second costs each process; if the baselines cost as much
more at half the rate, that cost is the stack's (grpc.aio's wake-ups, librdkafka's requests),
not Sluice's. Writes ``results/<date>-held-rate.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks import pairs
from benchmarks.procs import exit_on_termination
from benchmarks.scenarios import Bench, Scenario

RESULTS: Final = Path(__file__).resolve().parent / "results"
ARMS: Final = (
    ("sluice, 1 worker", pairs.ONE, 1.0),
    ("sluice, 1 worker", pairs.ONE, 0.5),
    ("sluice, --workers 2", pairs.TWO, 1.0),
    ("transport ceiling", dataclasses.replace(pairs.ONE, server="transport"), 1.0),
    ("transport ceiling", dataclasses.replace(pairs.ONE, server="transport"), 0.5),
    ("floor", dataclasses.replace(pairs.ONE, server="floor"), 1.0),
    ("floor", dataclasses.replace(pairs.ONE, server="floor"), 0.5),
)


def measure(bench: Bench, rate: float, rounds: int) -> list[dict[str, Any]]:
    """Every arm ``rounds`` times, in turns; each arm's medians over its runs."""
    runs: dict[int, list[dict[str, Any]]] = {index: [] for index in range(len(ARMS))}
    for round_index in range(rounds):
        for turn in range(len(ARMS)):
            index = (turn + round_index) % len(ARMS)
            title, scenario, share = ARMS[index]
            arm: Scenario = dataclasses.replace(
                scenario, name=f"held_{index}", title=title, rate=rate * share
            )
            result = bench.run(arm)
            runs[index].append(result)
            print(f"  {title} at {share:.0%}: {result['cpu_s_per_million']:.2f}", flush=True)
    return [_arm(ARMS[index][0], ARMS[index][2], rate, results) for index, results in runs.items()]


def _arm(title: str, share: float, rate: float, results: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = sorted({kind for result in results for kind in result["cpu_s_per_million_by_thread"]})
    costs = [result["cpu_s_per_million"] for result in results]
    return {
        "arm": title,
        "share": share,
        "readings_per_s": round(rate * share, 1),
        "cpu_s_per_million": round(statistics.median(costs), 3),
        "runs": costs,
        "by_thread": {
            kind: round(
                statistics.median(r["cpu_s_per_million_by_thread"].get(kind, 0.0) for r in results),
                3,
            )
            for kind in kinds
        },
        "errors": [error for result in results for error in result["errors"]][:5],
    }


def table(arms: list[dict[str, Any]]) -> str:
    """A Markdown table: each arm's CPU per reading, by kind of thread, and against the same
    server at the full rate."""
    full = {arm["arm"]: arm["cpu_s_per_million"] for arm in arms if arm["share"] == 1.0}
    lines = [
        "| server | readings/s | CPU-s per 1M readings (runs) | main | librdkafka | grpc "
        "| against 1 process at the full rate |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    baseline = full["sluice, 1 worker"]
    for arm in arms:
        reference = baseline if arm["arm"].startswith("sluice") else full[arm["arm"]]
        runs = ", ".join(f"{cost:.2f}" for cost in arm["runs"])
        threads = arm["by_thread"]
        lines.append(
            f"| {arm['arm']} | {arm['readings_per_s']:,.0f} | {arm['cpu_s_per_million']:.2f} "
            f"({runs}) | {threads.get('main', 0):.2f} | {threads.get('librdkafka', 0):.2f} "
            f"| {threads.get('grpc', 0):.2f} | {arm['cpu_s_per_million'] / reference:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, required=True, help="the held readings/s")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    exit_on_termination()
    with tempfile.TemporaryDirectory(prefix="sluice-held-rate-") as workdir:
        arms = measure(Bench(Path(workdir)), args.rate, args.rounds)
    out = RESULTS / f"{datetime.date.today().isoformat()}-held-rate.json"
    out.write_text(json.dumps({"rate": args.rate, "arms": arms}, indent=1) + "\n", "utf-8")
    print(table(arms))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
