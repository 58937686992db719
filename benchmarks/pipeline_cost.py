"""What one batch costs Sluice's pipeline and the floor, in-process: no gRPC, a real broker.

    python -m benchmarks.pipeline_cost [--workload plain] [--readings 100]
                                       [--batches 10000] [--rounds 3]
                                       [--ablate metrics,dedup,budget,buckets,spool|all]

Both paths take the same batches (100 readings each; ``--readings 1`` for (b)'s 1-reading
messages), up to 128 in flight, and answer each once its
records are delivered to a Tansu broker that the tool starts. Within a round the paths take
turns, a tenth of their batches at a time, in an order that rotates every turn:

- ``sluice``: a worker's own ``Admission.submit`` (its listeners are never started): the
  byte bucket, the walk, the dedup cache, the in-flight budget, the four stages, the
  producer, the Ack;
- ``floor``: the floor baseline's ``Floor.admit`` (``baselines/floor.py``): the walk and
  checks, the records, ``produce()``, the Ack after delivery.

With ``--ablate``, each named feature is then switched off in turn (``ablations.py``; ``all``
for every one off at once), each in a measurement of its own beside the full path: a
feature's cost is the full path's µs per batch less the path without it, within each round.

A batch's cost is the process's CPU time (every thread, librdkafka's too) per batch, taken
over the whole run of each path; encoding the batches (~1 µs each) is in both. On two CPUs
the tool runs on CPU 0 and the broker on CPU 1. Without gRPC in the way, paths and rounds
agree to a few per cent, where whole-server runs differ by ~10%: this is the tool to measure
a change to the per-batch path with. Nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import uvloop
from prometheus_client import CollectorRegistry

from benchmarks.ablations import FEATURES, Variant
from benchmarks.baselines.floor import Floor
from benchmarks.procs import exit_on_termination
from benchmarks.workloads import WORKLOADS, BatchFactory, BatchHeader
from sluice.core.config.settings import load_settings
from sluice.core.record_contract import DEFAULT_DLQ_TOPIC, DEFAULT_TOPIC
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker
from sluice.frontdoors.receiver.acks import STATUS_NAMES
from sluice.frontdoors.receiver.admission import Admission
from sluice.ops.metrics import Metrics
from sluice.ops.tracing import configure_tracing, new_traceparent
from sluice.runtime.collector import tune_for_steady_state
from sluice.runtime.scheduling import apply_cpu_scheduling
from sluice.runtime.worker import Worker
from sluice.v1.ingest_pb2 import Ack

WINDOW = 128
SLICES = 10
"""Turns per round: each path drives a tenth of its batches per turn."""
BATCH_SIZE = 100
BODIES = 64
TENANT = "default"
ANSWERED = frozenset({"OK", "PARTIAL", "REJECTED"})
"""Statuses that mean the batch went the whole way; any other makes the run fail."""

OnAck = Callable[[Ack], None]
Submit = Callable[[bytes, OnAck], Awaitable[None]]


async def drive(
    submit: Submit, header: BatchHeader, bodies: list[bytes], count: int, first: int = 1
) -> float:
    """CPU seconds per batch for ``count`` batches through ``submit``, ``WINDOW`` in flight,
    numbered from ``first``."""
    loop = asyncio.get_running_loop()
    window = asyncio.Semaphore(WINDOW)
    finished: asyncio.Future[None] = loop.create_future()
    statuses: dict[str, int] = {}
    left = count

    def on_ack(ack: Ack) -> None:
        nonlocal left
        status = STATUS_NAMES.get(ack.status, str(ack.status))
        statuses[status] = statuses.get(status, 0) + 1
        window.release()
        left -= 1
        if left == 0:
            finished.set_result(None)

    start = time.process_time()
    for seq in range(first, first + count):
        await window.acquire()
        await submit(header.encode(seq, bodies[seq % len(bodies)]), on_ack)
    await finished
    cost = (time.process_time() - start) / count
    if not set(statuses) <= ANSWERED:
        raise RuntimeError(f"batches not answered in full: {statuses}")
    return cost


async def _round(
    paths: dict[str, Submit], bodies: list[bytes], batches: int, number: int
) -> dict[str, float]:
    """One round: each path's CPU seconds per batch over ``batches`` batches, driven in
    ``SLICES`` turns that rotate the paths' order, so that a drift over the round (the
    broker's memory grows, caches warm) weighs on every path alike."""
    per_slice = max(batches // SLICES, 1)
    headers = {name: BatchHeader("pipeline-cost", f"{name}-{number}") for name in paths}

    def one_slice(name: str, piece: int) -> Awaitable[float]:
        first = piece * per_slice + 1
        return drive(paths[name], headers[name], bodies, per_slice, first)

    return await in_turns(list(paths), one_slice)


async def in_turns(
    names: list[str], one_slice: Callable[[str, int], Awaitable[float]]
) -> dict[str, float]:
    """Each path's mean cost over ``SLICES`` equal slices, ``one_slice(name, piece)`` giving
    a slice's cost per item; the paths take turns in an order that rotates every slice."""
    spent = dict.fromkeys(names, 0.0)
    for piece in range(SLICES):
        turn = piece % len(names)
        for name in names[turn:] + names[:turn]:
            spent[name] += await one_slice(name, piece)
    return {name: total / SLICES for name, total in spent.items()}


def admission_path(admission: Admission, traceparent: str) -> Submit:
    """A worker's ``Admission.submit`` for the default tenant, as the pipeline's path."""

    async def submit(raw: bytes, on_ack: OnAck) -> None:
        await admission.submit(TENANT, raw, on_ack, traceparent)

    return submit


async def _costs(
    bootstrap: str,
    workload: str,
    batches: int,
    rounds: int,
    ablate: str | None = None,
    readings: int = BATCH_SIZE,
) -> dict[str, list[float]]:
    """CPU seconds per batch of each path, per round: Sluice, the floor and, with ``ablate``,
    Sluice without that feature. Only these paths' producers exist meanwhile: an idle
    producer's threads still cost CPU, which would weigh on every path alike."""
    settings = load_settings(None, {"SLUICE__KAFKA__BOOTSTRAP_SERVERS": bootstrap})
    worker = Worker(settings, Metrics(CollectorRegistry()))  # started up to its pipeline only
    pipeline = worker.pipeline
    await pipeline.start()
    floor = Floor(bootstrap)
    floor.start()
    traceparent = new_traceparent()
    variant = None
    if ablate is not None:
        variant = Variant(settings, frozenset(FEATURES if ablate == "all" else (ablate,)))
        await variant.start()

    async def floor_path(raw: bytes, on_ack: OnAck) -> None:
        floor.admit(raw, traceparent, on_ack)

    paths: dict[str, Submit] = {
        "sluice": admission_path(worker.admission, traceparent),
        "floor": floor_path,
    }
    if variant is not None:
        paths[f"sluice-without-{ablate}"] = admission_path(variant.admission, traceparent)
    bodies = BatchFactory(WORKLOADS[workload]).bodies(BODIES, readings)
    costs: dict[str, list[float]] = {name: [] for name in paths}
    try:
        for name, submit in paths.items():  # warm-up: caches, connections, the dedup cache
            await drive(submit, BatchHeader("warm-up", name), bodies, max(batches // 5, 1))
        tune_for_steady_state()  # as a worker does once started
        for number in range(rounds):
            for name, cost in (await _round(paths, bodies, batches, number)).items():
                costs[name].append(cost)
    finally:
        await asyncio.to_thread(floor.stop)
        if variant is not None:
            await variant.shutdown()
        await pipeline.shutdown()
    return costs


def figures(values: list[float], scale: float = 1e6, digits: int = 1) -> dict[str, Any]:
    """The median of ``values`` and each of them, scaled (to µs by default) and rounded."""
    return {
        "median": round(statistics.median(values) * scale, digits),
        "rounds": [round(value * scale, digits) for value in values],
    }


async def _measure(
    bootstrap: str,
    workload: str,
    batches: int,
    rounds: int,
    ablate: Sequence[str] = (),
    readings: int = BATCH_SIZE,
) -> dict[str, Any]:
    """Sluice and the floor, then each ablation in a measurement of its own."""
    costs = await _costs(bootstrap, workload, batches, rounds, readings=readings)
    per_round = [s / f for s, f in zip(costs["sluice"], costs["floor"], strict=True)]
    ablations = {}
    for name in ablate:
        paired = await _costs(bootstrap, workload, batches, rounds, name, readings)
        whole, without = paired["sluice"], paired[f"sluice-without-{name}"]
        ablations[name] = {
            "sluice": figures(whole),
            "without": figures(without),
            "cost": figures([s - v for s, v in zip(whole, without, strict=True)]),
        }
    return {
        "workload": workload,
        "readings_per_batch": readings,
        "batches_per_round": batches,
        "us_per_batch": {name: figures(values) for name, values in costs.items()},
        "cost_sluice_over_floor": figures(per_round, 1.0, 3),
        "feature_us_per_batch": {name: figures["cost"] for name, figures in ablations.items()},
        "ablations": ablations,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure both paths and print (or write) the CPU µs per batch of each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="plain")
    parser.add_argument("--readings", type=int, default=BATCH_SIZE, help="readings per batch")
    parser.add_argument("--batches", type=int, default=10_000, help="batches per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--ablate",
        default="",
        help=f"comma-separated features to switch off in turn ({', '.join(FEATURES)}), "
        "'all' for each of them and every one at once",
    )
    args = parser.parse_args(argv)
    if args.batches < 1 or args.rounds < 1 or args.readings < 1:
        parser.error("--readings, --batches and --rounds must be at least 1")
    ablate = [name for name in args.ablate.split(",") if name]
    if ablate == ["all"]:
        ablate = [*FEATURES, "all"]
    unknown = set(ablate) - {*FEATURES, "all"}
    if unknown:
        parser.error(f"--ablate: unknown features {sorted(unknown)}")
    with in_process_broker() as bootstrap:
        result = uvloop.run(
            _measure(bootstrap, args.workload, args.batches, args.rounds, ablate, args.readings)
        )
    report(result, args.json)
    return 0


@contextlib.contextmanager
def in_process_broker() -> Iterator[str]:
    """Set this process up as a worker runs (its CPU scheduling, tracing as ``sluice serve``
    configures it) and start a Tansu broker with the default topics; yields its bootstrap.
    On two CPUs this process runs on CPU 0 and the broker on CPU 1."""
    exit_on_termination()
    apply_cpu_scheduling("batch")  # as a worker does; its threads inherit it
    configure_tracing()  # as `sluice serve` does: with no exporter, no span per batch
    with (
        tempfile.TemporaryDirectory(prefix="sluice-in-process-cost-") as scratch,
        TansuBroker(log_path=Path(scratch) / "broker.log") as broker,
    ):
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(broker.pid, {1})
            os.sched_setaffinity(0, {0})
        create_topics(broker.bootstrap, [DEFAULT_TOPIC, DEFAULT_DLQ_TOPIC])
        yield broker.bootstrap


def report(result: dict[str, Any], path: Path | None) -> None:
    """Print ``result`` as JSON, and write it to ``path`` too if given."""
    text = json.dumps(result, indent=2)
    if path is not None:
        path.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    raise SystemExit(main())
