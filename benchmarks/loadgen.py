"""The native load generator: processes × streams × a window of pre-encoded batches.

    python -m benchmarks.loadgen --target 127.0.0.1:50051 --workload plain --duration 10

Each process encodes its batch bodies once, opens one channel per stream, and then only
prepends a few header bytes (seq, source, session) per send, so it pays nothing per reading.
A stream keeps up to ``--window`` batches unacknowledged. ``--rate R`` holds R readings/s
in total, spread evenly over the streams; latency is then measured from each batch's
scheduled send time, so a server that falls behind cannot hide its queueing delay
(no coordinated omission). Without ``--rate`` every stream sends as fast as its window
allows.

The run is ``--warmup`` seconds, not counted, then a measured window of ``--duration``
seconds: what it reports (readings/s, batches/s, Ack latency percentiles, Ack statuses)
counts only the Acks that arrive inside the window. ``--start-at`` (Unix time) fixes the
window's start, so that a harness can measure the server over the very same window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import sys
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import grpc

from benchmarks.procs import exit_on_termination
from benchmarks.workloads import WORKLOADS, BatchFactory, BatchHeader
from sluice.v1.ingest_pb2 import Ack, AckStatus

STREAM_METHOD = "/sluice.v1.Ingest/Stream"
PROCESSED = frozenset(
    {AckStatus.ACK_STATUS_OK, AckStatus.ACK_STATUS_PARTIAL, AckStatus.ACK_STATUS_REJECTED}
)
"""Statuses that mean the server took the batch (rejections included); the rest are errors."""
BODIES_PER_PROCESS = 64
READY_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """One load generator run."""

    target: str
    workload: str = "plain"
    batch_size: int = 100
    processes: int = 2
    streams: int = 4
    window: int = 16
    duration_s: float = 10.0
    warmup_s: float = 2.0
    rate: float | None = None
    """Readings per second across every stream; None sends as fast as the windows allow."""
    start_at: float | None = None
    """Unix time the measured window starts; by default, once every process is connected."""
    cpus: tuple[int, ...] | None = None
    """CPUs the generator's processes are pinned to."""
    seed: int = 1
    connect_timeout_s: float = READY_TIMEOUT_S
    """How long each process waits for its channels to connect."""


@dataclass(slots=True)
class LoadReport:
    """What one run achieved, counted over the measured window only."""

    readings: int = 0
    batches: int = 0
    duration_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    sent_batches: int = 0
    acked_batches: int = 0
    errors: list[str] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.duration_s if self.duration_s else 0.0

    @property
    def batches_per_s(self) -> float:
        return self.batches / self.duration_s if self.duration_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Everything, with the rates, as JSON-ready data."""
        data = asdict(self)
        data["readings_per_s"] = round(self.readings_per_s, 1)
        data["batches_per_s"] = round(self.batches_per_s, 1)
        return data


def percentile(ordered: Sequence[float], share: float) -> float:
    """The nearest-rank percentile ``share`` (0..1) of the sorted ``ordered``."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(slots=True)
class _Tally:
    """One process's counts; latencies in seconds."""

    readings: int = 0
    batches: int = 0
    sent: int = 0
    acked: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: array[float] = field(default_factory=lambda: array("d"))


class _Stream:
    """One Ingest.Stream: sends pre-encoded batches within a window, times every Ack."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        bodies: Sequence[bytes],
        batch_size: int,
        window: int,
        interval: float | None,
        clock: tuple[float, float, float],
        tally: _Tally,
        offset: int,
        lag: float = 0.0,
    ) -> None:
        self._call = channel.stream_stream(STREAM_METHOD, None, Ack.FromString)
        self._bodies = bodies
        self._batch_size = batch_size
        self._window = asyncio.Semaphore(window)
        self._interval = interval
        self._go, self._start, self._stop = clock
        self._tally = tally
        self._offset = offset
        self._lag = lag
        self._header = BatchHeader(f"loadgen-{os.getpid()}", str(uuid.uuid4()))
        self._sent: dict[int, float] = {}

    async def _requests(self) -> Any:
        perf = time.perf_counter
        bodies, count = self._bodies, len(self._bodies)
        encode, sent, window = self._header.encode, self._sent, self._window
        interval = self._interval
        due = self._go + self._lag
        seq = 0
        while True:
            await window.acquire()
            now = perf()
            if interval is not None:
                if due > now:
                    await asyncio.sleep(due - now)
                now, due = due, due + interval
            if now >= self._stop:
                return
            seq += 1
            sent[seq] = now
            self._tally.sent += 1
            yield encode(seq, bodies[(seq + self._offset) % count])

    async def run(self) -> None:
        tally, perf = self._tally, time.perf_counter
        call = self._call(self._requests())
        try:
            await self._read(call)
        except grpc.aio.AioRpcError as error:
            # When an RPC ends while a write is under way, grpc.aio reports the write's
            # failure (INTERNAL "execute_batch") instead of the RPC's status (grpc#36066):
            # the status and the time tell which side ended it.
            status = await call.code()
            when = perf() - self._start
            tally.errors.append(
                f"stream ended at {when:+.1f}s of the window: {error.code().name} "
                f"({error.details()}); the RPC's status: {status.name}"
            )
            return
        if self._sent:
            tally.errors.append(f"{len(self._sent)} batches were never acknowledged")

    async def _read(self, call: Any) -> None:
        tally, perf = self._tally, time.perf_counter
        start, stop, size = self._start, self._stop, self._batch_size
        latencies, statuses, sent = tally.latencies, tally.statuses, self._sent
        release = self._window.release
        async for ack in call:
            now = perf()
            began = sent.pop(ack.seq, None)
            release()
            if began is None:
                tally.errors.append(f"an Ack for unknown seq {ack.seq}")
                continue
            tally.acked += 1
            if not start <= now < stop:
                continue
            name = AckStatus.Name(ack.status)
            statuses[name] += 1
            if ack.status in PROCESSED:
                tally.batches += 1
                tally.readings += size
                latencies.append(now - began)


async def _run_process(config: LoadConfig, index: int, ready: Any, go: Any) -> _Tally:
    factory = BatchFactory(WORKLOADS[config.workload], seed=config.seed * 1000 + index)
    bodies = factory.bodies(BODIES_PER_PROCESS, config.batch_size)
    streams = config.streams
    interval = None
    if config.rate:
        per_stream = config.rate / (config.processes * streams)
        interval = config.batch_size / per_stream
    channels = [
        grpc.aio.insecure_channel(config.target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(streams)
    ]
    tally = _Tally()
    try:
        try:
            for channel in channels:
                await asyncio.wait_for(channel.channel_ready(), config.connect_timeout_s)
        except TimeoutError:
            tally.errors.append(f"could not connect to {config.target} in time")
            return tally
        finally:
            ready.put(index)  # connected or not, so that the parent never waits in vain
        start_at = await asyncio.to_thread(go.get, True, config.connect_timeout_s + READY_TIMEOUT_S)
        # Wall-clock times from the parent, mapped onto this process's perf_counter.
        skew = time.perf_counter() - time.time()
        start = start_at + skew
        clock = (start - config.warmup_s, start, start + config.duration_s)
        await asyncio.sleep(max(0.0, clock[0] - time.perf_counter()))
        runs = [
            _Stream(
                channel,
                bodies,
                config.batch_size,
                config.window,
                interval,
                clock,
                tally,
                index * streams + number,
                _lag(index * streams + number, config.processes * streams, interval),
            ).run()
            for number, channel in enumerate(channels)
        ]
        results = await asyncio.wait_for(
            asyncio.gather(*runs, return_exceptions=True),
            config.warmup_s + config.duration_s + DRAIN_TIMEOUT_S,
        )
        tally.errors += [repr(result) for result in results if isinstance(result, BaseException)]
    except Exception as error:
        tally.errors.append(repr(error))
    finally:
        for channel in channels:
            await channel.close(None)
    return tally


def _lag(offset: int, streams: int, interval: float | None) -> float:
    """How long stream ``offset`` of ``streams`` waits before its first send, so that held-rate
    streams spread their sends evenly over one interval instead of sending in step."""
    if interval is None:
        return 0.0
    return offset / streams * interval


def _process_main(config: LoadConfig, index: int, ready: Any, go: Any, results: Any) -> None:
    if config.cpus:
        os.sched_setaffinity(0, config.cpus)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    tally = asyncio.run(_run_process(config, index, ready, go))
    results.put(
        (
            tally.readings,
            tally.batches,
            tally.sent,
            tally.acked,
            dict(tally.statuses),
            tally.errors,
            tally.latencies.tobytes(),
        )
    )


def run_load(config: LoadConfig) -> LoadReport:
    """Run the load and merge every process's counts into one report."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Queue(), context.Queue(), context.Queue()
    processes = [
        context.Process(target=_process_main, args=(config, index, ready, go, results), daemon=True)
        for index in range(config.processes)
    ]
    for process in processes:
        process.start()
    report = LoadReport(duration_s=config.duration_s)
    try:
        for _ in processes:
            ready.get(timeout=config.connect_timeout_s + READY_TIMEOUT_S)
        start_at = config.start_at or time.time() + config.warmup_s + 0.2
        for _ in processes:
            go.put(start_at)
        latencies = array("d")
        statuses: Counter[str] = Counter()
        deadline = config.warmup_s + config.duration_s + DRAIN_TIMEOUT_S + READY_TIMEOUT_S
        for _ in processes:
            readings, batches, sent, acked, counts, errors, raw = results.get(timeout=deadline)
            report.readings += readings
            report.batches += batches
            report.sent_batches += sent
            report.acked_batches += acked
            statuses.update(counts)
            report.errors += errors
            latencies.frombytes(raw)
        report.statuses = dict(statuses)
        ordered = sorted(latencies)
        report.latency_ms = {
            name: round(percentile(ordered, share) * 1000, 3)
            for name, share in (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999))
        }
        report.latency_ms["max"] = round(ordered[-1] * 1000, 3) if ordered else 0.0
    except BaseException:
        for process in processes:  # stopped (SIGTERM, Ctrl-C) or failed: no one waits for them
            process.kill()
        raise
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
    return report


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks.loadgen``."""
    parser = argparse.ArgumentParser(prog="loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="plain")
    parser.add_argument("--batch-size", type=int, default=100, help="readings per batch")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--streams", type=int, default=4, help="streams per process")
    parser.add_argument("--window", type=int, default=16, help="unacknowledged batches/stream")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent, not counted")
    parser.add_argument("--rate", type=float, default=None, help="readings/s in total")
    parser.add_argument("--start-at", type=float, default=None, help="Unix time of the window")
    parser.add_argument("--cpus", default=None, help="pin to these CPUs, e.g. 1 or 0,1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the report here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load generator from the command line; exit 1 if anything went wrong."""
    args = build_parser().parse_args(argv)
    exit_on_termination()
    cpus = tuple(int(cpu) for cpu in args.cpus.split(",")) if args.cpus else None
    config = LoadConfig(
        target=args.target,
        workload=args.workload,
        batch_size=args.batch_size,
        processes=args.processes,
        streams=args.streams,
        window=args.window,
        duration_s=args.duration,
        warmup_s=args.warmup,
        rate=args.rate,
        start_at=args.start_at,
        cpus=cpus,
        seed=args.seed,
    )
    report = run_load(config)
    data = report.as_dict()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
    latency = report.latency_ms
    print(
        f"{report.readings_per_s:,.0f} readings/s, {report.batches_per_s:,.0f} batches/s; "
        f"Ack latency p50 {latency.get('p50', 0):.2f} ms, p99 {latency.get('p99', 0):.2f} ms, "
        f"p99.9 {latency.get('p99.9', 0):.2f} ms; statuses {report.statuses}"
    )
    for error in report.errors[:10]:
        print(f"error: {error}", file=sys.stderr)
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
