"""The sink ceiling: records of the same size as Sluice's, pre-encoded, produced straight to
the broker with confluent-kafka, as fast as the delivery reports come back.

    python -m benchmarks.baselines.sink_ceiling --bootstrap HOST:PORT --duration 10

Each record is one encoded batch of the workload with Sluice's CloudEvents headers, produced
with Sluice's producer settings (acks=all, idempotence, lz4, linger). Nothing is checked or
encoded while it runs, so this is as fast as one core can hand batches to this broker. It
runs with the same CPU scheduling policy as a Sluice worker (``--cpu-scheduling``).
The report counts the records delivered inside the measured window.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import uuid
from collections.abc import Sequence

from confluent_kafka import Producer

from benchmarks.workloads import WORKLOADS, BatchFactory, BatchHeader
from sluice.core.record_contract import DEFAULT_TOPIC
from sluice.runtime.scheduling import apply_cpu_scheduling

RECORDS = 64
"""Distinct pre-encoded records, produced round-robin."""


def _headers(session: str, seq: int) -> list[tuple[str, str | bytes | None]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", f"{session}:{seq}:0".encode()),
        ("ce_source", b"/tenants/default/sources/sink-ceiling"),
        ("ce_type", b"sluice.v1.ReadingBatch"),
        ("ce_time", b"2026-01-01T00:00:00.000000Z"),
        ("content-type", b"application/x-protobuf"),
        ("ce_tenantid", b"default"),
        ("ce_schemaversion", b"1"),
        ("sluice_session", session.encode()),
        ("sluice_seq", str(seq).encode()),
        ("sluice_part", b"0"),
        ("sluice_parts", b"1"),
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]


def run(
    bootstrap: str, workload: str, batch_size: int, duration_s: float, warmup_s: float
) -> dict[str, float]:
    """Produce for ``warmup_s + duration_s``; the rates, and the process's CPU seconds
    (every thread, librdkafka's too), over the last ``duration_s``."""
    session = str(uuid.uuid4())
    factory = BatchFactory(WORKLOADS[workload])
    header = BatchHeader("sink-ceiling", session)
    records = [
        (header.encode(seq, body), _headers(session, seq))
        for seq, body in enumerate(factory.bodies(RECORDS, batch_size), 1)
    ]
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 5,
        }
    )
    window = [0, 0.0, 0.0]  # delivered in window, window start, window end

    def delivered(error: object, _message: object) -> None:
        now = time.perf_counter()
        if error is None and window[1] <= now < window[2]:
            window[0] += 1

    start = time.perf_counter()
    window[1], window[2] = start + warmup_s, start + warmup_s + duration_s
    produce, poll, key = producer.produce, producer.poll, b"sink-ceiling"
    sent = 0
    cpu_start = None
    while (now := time.perf_counter()) < window[2]:
        if cpu_start is None and now >= window[1]:
            cpu_start = time.process_time()
        value, headers = records[sent % RECORDS]
        try:
            produce(DEFAULT_TOPIC, value, key, headers=headers, on_delivery=delivered)
            sent += 1
        except BufferError:
            poll(0.005)
            continue
        if sent % 64 == 0:
            poll(0)
    cpu_s = time.process_time() - (cpu_start or 0.0)
    producer.flush(30)
    batches = window[0] / duration_s
    return {
        "batches_per_s": batches,
        "readings_per_s": batches * batch_size,
        "cpu_s": cpu_s,
        "readings": window[0] * batch_size,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sink ceiling and print (or write) its rates as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="plain")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--cpu-scheduling", choices=("batch", "normal"), default="batch")
    args = parser.parse_args(argv)
    apply_cpu_scheduling(args.cpu_scheduling)
    result = run(args.bootstrap, args.workload, args.batch_size, args.duration, args.warmup)
    text = json.dumps(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            out.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
