"""Instructions per batch of Sluice's per-batch path and of the floor's, counted by callgrind.

    python -m benchmarks.instructions [--workload plain] [--batches 2000]

Timing resolves a change of ~5% at best on this shared machine; an instruction count does not
move with the machine's load (valgrind's callgrind counts the same total twice over). For each
path, Sluice's ``Admission.submit`` and the floor's ``admit`` (as ``pipeline_cost`` drives
them, in-process, against a Tansu broker started outside valgrind), the tool counts every
instruction of the process twice: after ``BASE`` batches and after ``BASE + --batches``. The
difference, divided by ``--batches``, is one batch's count, with start-up and warm-up gone.

Two caveats. A batch takes ~50× longer under valgrind, so work done per second rather than
per batch (librdkafka's statistics, the metric tallies' publishing, the breaker's watch) is
counted ~50× over; compare two versions of Sluice with it, or read the Sluice/floor ratio as
an upper bound. And the rich workload's dead-letter budget is per second too: under valgrind
far more faulty batches get a dead-letter record than at full speed, so use ``plain``.
Needs valgrind (Debian: ``apt-get install valgrind``). Nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import uvloop
from prometheus_client import CollectorRegistry

from benchmarks.baselines.floor import Floor
from benchmarks.pipeline_cost import BODIES, OnAck, admission_path, drive
from benchmarks.procs import exit_on_termination
from benchmarks.workloads import WORKLOADS, BatchFactory, BatchHeader
from sluice.core.config.settings import load_settings
from sluice.core.record_contract import DEFAULT_DLQ_TOPIC, DEFAULT_TOPIC
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker
from sluice.ops.metrics import Metrics
from sluice.ops.tracing import configure_tracing, new_traceparent
from sluice.runtime.collector import tune_for_steady_state
from sluice.runtime.worker import Worker

BASE = 200
"""Batches of the shorter run: its count is start-up and warm-up, taken off the longer one."""
WARM_UP = 200
PATHS = ("sluice", "floor")


async def _run_path(path: str, workload: str, batches: int, bootstrap: str) -> None:
    """Drive ``batches`` batches (after a warm-up) through one path."""
    settings = load_settings(None, {"SLUICE__KAFKA__BOOTSTRAP_SERVERS": bootstrap})
    traceparent = new_traceparent()
    bodies = BatchFactory(WORKLOADS[workload]).bodies(BODIES, 100)
    if path == "sluice":
        worker = Worker(settings, Metrics(CollectorRegistry()))  # up to its pipeline only
        await worker.pipeline.start()
        submit = admission_path(worker.admission, traceparent)
        stop = worker.pipeline.shutdown
    else:
        floor = Floor(bootstrap)
        floor.start()

        async def submit(raw: bytes, on_ack: OnAck) -> None:
            floor.admit(raw, traceparent, on_ack)

        async def stop() -> None:
            await asyncio.to_thread(floor.stop)

    try:
        await drive(submit, BatchHeader("warm-up", path), bodies, WARM_UP)
        tune_for_steady_state()
        await drive(submit, BatchHeader("measured", path), bodies, batches)
    finally:
        await stop()


def _count(path: str, workload: str, batches: int, bootstrap: str, scratch: Path) -> int:
    """Every instruction of one run of ``path`` under callgrind."""
    out = scratch / f"callgrind.{path}.{batches}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--child",
        path,
        "--workload",
        workload,
        "--batches",
        str(batches),
        "--bootstrap",
        bootstrap,
    ]
    subprocess.run(command, check=True, capture_output=True)
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no instruction total in {out}")


def main(argv: Sequence[str] | None = None) -> int:
    """Count each path's instructions per batch and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="plain")
    parser.add_argument("--batches", type=int, default=2000, help="batches counted per path")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # the run under valgrind
        configure_tracing()  # as `sluice serve` does: with no exporter, no span per batch
        uvloop.run(_run_path(args.child, args.workload, args.batches, args.bootstrap))
        return 0
    if args.batches < 1:
        parser.error("--batches must be at least 1")
    if shutil.which("valgrind") is None:
        print("benchmarks.instructions needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    exit_on_termination()
    per_batch: dict[str, int] = {}
    with (
        tempfile.TemporaryDirectory(prefix="sluice-instructions-") as scratch,
        TansuBroker(log_path=Path(scratch) / "broker.log") as broker,
    ):
        create_topics(broker.bootstrap, [DEFAULT_TOPIC, DEFAULT_DLQ_TOPIC])
        for path in PATHS:
            short = _count(path, args.workload, BASE, broker.bootstrap, Path(scratch))
            long = _count(path, args.workload, BASE + args.batches, broker.bootstrap, Path(scratch))
            per_batch[path] = round((long - short) / args.batches)
    result = {
        "workload": args.workload,
        "batches": args.batches,
        "instructions_per_batch": per_batch,
        "sluice_over_floor": round(per_batch["sluice"] / per_batch["floor"], 3),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
