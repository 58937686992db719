"""``make bench``: every scenario against real processes on loopback, one after another.

    python -m benchmarks.run [--only a_plain,c_plain] [--rounds 3] [--duration 10] [--no-readme]

Every chosen scenario runs once per round, rounds one after another, so that each ratio is
taken within a round (minutes apart) and the rounds show how much the machine's noise moves
it. Writes ``benchmarks/results/<date>.json`` and ``<date>.md``, and puts the table into
``benchmarks/README.md`` between its results markers. The server under test is pinned to
CPU 0, the load generator and the broker to CPU 1 (except the multi-worker pair, which
shares both CPUs). Performance is reported here, never asserted in a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import pairs, report, transforms
from benchmarks.procs import exit_on_termination
from benchmarks.scenarios import Bench, Load, Scenario
from sluice.core.config.server import DEFAULT_DEDUP_ENTRIES

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

FLEET = Load(processes=4, streams=1000, window=4)
"""4,000 streams, each on a connection of its own: a fleet of gateways."""
FLEET_BATCH = 10
FLEET_RATE = 4000 * FLEET_BATCH / 2.0
"""Each gateway sends a 10-reading batch every 2 s."""
FLEET_WARMUP_S = max(60.0, DEFAULT_DEDUP_ENTRIES / (FLEET_RATE / FLEET_BATCH) + 10.0)
"""At least 60 s, and until the dedup cache is full at its default size (an entry per batch:
110 s at this fleet's 2,000 batches/s). Only then is a worker in its steady state: while the
cache fills, every batch leaves a container behind, so CPython's young collections keep
coming, each stopping the loop to scan every stream's waiting coroutines (70-120 ms at
4,000 streams); once it is full, an entry in is an entry out and they stop."""


def fleet(name: str, title: str, server: str, config: dict[str, Any] | None = None) -> Scenario:
    """A fleet scenario: warmed up until the dedup cache is full (``FLEET_WARMUP_S``), then
    120 s measured, in the first round only."""
    return Scenario(name, title, server, batch_size=FLEET_BATCH, load=FLEET, rate=FLEET_RATE,
                    warmup_s=FLEET_WARMUP_S, duration_s=120.0, once=True,
                    config=config or {})  # fmt: skip


SCENARIOS = (
    Scenario("a_plain", "(a) end to end, plain, 100-reading batches", "sluice"),
    Scenario("c_plain", "(c) transport ceiling, plain", "transport"),
    Scenario(
        "c_plain_at_a",
        "(c) transport, plain, held at (a) plain's readings/s",
        "transport",
        rate_of="a_plain",
        rate_share=1.0,
    ),
    Scenario("n_plain", "native transport: grpc C++ answering unparsed, plain", "native"),
    Scenario("floor_plain", "floor: Sluice's building blocks alone, plain", "floor"),
    Scenario("behind_floor_plain", "Sluice's admission and pipeline behind the floor's stream, "
             "plain", "sluice_behind_floor"),
    Scenario("bare_behind_floor_plain", "the same with every switchable feature off, plain",
             "bare_behind_floor"),
    Scenario("d_plain", "(d) sink ceiling, plain", "sink"),
    Scenario("e_plain", "(e) naive baseline, plain", "naive", load=Load(2, 4, 4)),
    Scenario("a_rich", "(a) end to end, rich, 100-reading batches", "sluice", "rich"),
    Scenario("c_rich", "(c) transport ceiling, rich", "transport", "rich"),
    Scenario("floor_rich", "floor: Sluice's building blocks alone, rich", "floor", "rich"),
    Scenario("behind_floor_rich", "Sluice's admission and pipeline behind the floor's stream, "
             "rich", "sluice_behind_floor", "rich"),
    Scenario("bare_behind_floor_rich", "the same with every switchable feature off, rich",
             "bare_behind_floor", "rich"),
    Scenario("b_plain_1000", "(b) plain, 1,000-reading batches", "sluice", batch_size=1000,
             load=Load(2, 2, 8)),
    Scenario("b_rich_1000", "(b) rich, 1,000-reading batches", "sluice", "rich", 1000,
             load=Load(2, 2, 8)),
    Scenario("b_plain_1", "(b) plain, 1-reading messages", "sluice", batch_size=1,
             load=Load(2, 4, 32)),
    Scenario("floor_plain_1", "floor, plain, 1-reading messages", "floor", batch_size=1,
             load=Load(2, 4, 32)),
    Scenario("c_plain_1", "(c) transport ceiling, plain, 1-reading messages", "transport",
             batch_size=1, load=Load(2, 4, 32)),
    Scenario("behind_floor_plain_1", "Sluice's admission and pipeline behind the floor's "
             "stream, plain, 1-reading messages", "sluice_behind_floor", batch_size=1,
             load=Load(2, 4, 32)),
    Scenario("latency_50", "(a) plain at 50% of its maximum (--rate)", "sluice",
             rate_of="a_plain"),
    Scenario("c_plain_at_50", "(c) transport, plain, at the same rate: the client's own latency",
             "transport", rate_of="a_plain"),
    Scenario("http_1", "HTTP ingest, 1 reading per request", "sluice", batch_size=1,
             load=Load(1, 32, 1), protocol="http"),
    Scenario("http_floor_1", "HTTP floor, 1 reading per request", "http_floor", batch_size=1,
             load=Load(1, 32, 1), protocol="http"),
    Scenario("http_1_at_50", "HTTP ingest, 1 reading, at 50% of its maximum", "sluice",
             batch_size=1, load=Load(1, 32, 1), protocol="http", rate_of="http_1"),
    Scenario("http_100", "HTTP ingest, 100 readings per request", "sluice", load=Load(1, 16, 1),
             protocol="http"),
    Scenario("http_floor_100", "HTTP floor, 100 readings per request", "http_floor",
             load=Load(1, 16, 1), protocol="http"),
    Scenario("http_100_at_50", "HTTP ingest, 100 readings, at 50% of its maximum", "sluice",
             load=Load(1, 16, 1), protocol="http", rate_of="http_100"),
    fleet("fleet", "fleet: 4,000 gateways, a connection each, 10 readings every 2 s", "sluice"),
    fleet("fleet_no_dedup", "fleet, the dedup cache off: the cache's share of memory", "sluice",
          {"server": {"dedup_entries": 0}}),
    fleet("fleet_c", "fleet against the transport ceiling: grpc.aio's own share", "transport"),
    Scenario("workers_1", "1 worker, unpinned, 2 cores shared with the client", "sluice",
             pinned=False),
    Scenario("workers_2", "--workers 2, unpinned, 2 cores shared with the client", "sluice",
             workers=2, pinned=False, load=Load(2, 4, 16)),
    Scenario("workers_pairs", "--workers 2 against 1 at 40% of workers_1, interleaved pairs",
             "sluice", rate_of="workers_1", rate_share=pairs.HELD_SHARE, once=True),
)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios (all, or ``--only``) and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--rounds", type=int, default=3, help="times each scenario runs")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds each")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds each")
    parser.add_argument("--no-transforms", action="store_true")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    exit_on_termination()
    if (os.cpu_count() or 1) < 2:
        print("make bench needs two CPUs: one for the server, one for the load", file=sys.stderr)
        return 2
    wanted = {name for name in args.only.split(",") if name}
    chosen = [scenario for scenario in SCENARIOS if not wanted or scenario.name in wanted]
    started = time.time()
    rounds = []
    worker_pairs = None
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as scratch:
        for number in range(1, args.rounds + 1):
            workdir = Path(scratch) / f"round-{number}"
            workdir.mkdir()
            bench = Bench(workdir, duration_s=args.duration, warmup_s=args.warmup)
            for scenario in chosen:
                if scenario.once and number > 1:
                    continue
                if scenario.rate_of and scenario.rate_of not in bench.results:
                    bench.run(next(s for s in SCENARIOS if s.name == scenario.rate_of))
                print(f"round {number}, {scenario.name}: {scenario.title}", flush=True)
                if scenario.name == "workers_pairs":
                    rate = bench.results["workers_1"]["readings_per_s"] * scenario.rate_share
                    worker_pairs = pairs.measure(bench, rate)
                    print(f"  {json.dumps(worker_pairs)}", flush=True)
                    continue
                result = bench.run(scenario)
                print(f"  {json.dumps(result)}", flush=True)
            rounds.append(bench.results)
    results, ratio = report.combine(rounds)
    data = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "duration_s": args.duration,
        "wall_s": round(time.time() - started, 1),
        "machine": report.machine(),
        "scenarios": results,
        "ratios": ratio,
        "targets": report.targets(results, ratio, worker_pairs),
        "workers_pairs": worker_pairs,
        "rounds": rounds,
        "transforms": None if args.no_transforms else transforms.measure(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = datetime.date.today().isoformat()
    (args.out / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    table = report.markdown(data)
    (args.out / f"{stem}.md").write_text(table, encoding="utf-8")
    if not args.no_readme and README.exists():
        _update_readme(table, stem)
    print(table)
    return 0


def _update_readme(table: str, stem: str) -> None:
    text = README.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = f"{BEGIN}\nFrom `results/{stem}.json`:\n\n{table}{END}"
    README.write_text(head + body + tail, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
