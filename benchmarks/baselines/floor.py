"""The floor: Sluice's own building blocks per batch, wired together with nothing else.

    python -m benchmarks.baselines.floor --listen 127.0.0.1:50081 --bootstrap HOST:PORT

Per batch it pays what Sluice's contract makes any Python server on grpc.aio and
confluent-kafka pay, and no more:

- the transport ceiling's gRPC stream (grpc.aio on uvloop, raw request bytes), pipelined as
  Sluice's receiver is: a reader, a writer and up to 32 batches in flight per stream;
- Sluice's checks (``walk`` and ``ReadingChecker``: the C walk and screen, suspects in Python);
- Sluice's record contract (one record per batch with its CloudEvents headers, plus a
  dead-letter record when a reading failed, within the contract's per-tenant cap at Sluice's
  default of 100 per second), produced with Sluice's producer settings (acks=all,
  idempotence, lz4, linger);
- the Ack once every record is delivered, the delivery reports served by a poller thread and
  handed to the loop once per poll, as Sluice does;
- a worker's garbage-collector settings, applied by ``serve`` once the server has started.

No byte or reading buckets, no dedup cache, no in-flight budget, no metrics, no stages, no
circuit breaker, no spool. The record and Ack building are the floor's own frozen copies
(``frozen.py``): Sluice getting cheaper there never makes the floor cheaper too. Sluice's
readings per CPU-second can approach the floor's, never pass them: what (a) spends above it
is Sluice's own per-batch work.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from functools import partial
from typing import Any

import uvloop
from confluent_kafka import KafkaError, Producer

from benchmarks.baselines.frozen import (
    DeadLetterBudget,
    FloorBatch,
    ack_for_batch,
    ack_unavailable,
    dead_letter_record,
    readings_record,
)
from benchmarks.baselines.transport_ceiling import serve
from sluice.core._wire import walk
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.core.config.kafka import KafkaConfig
from sluice.delivery.kafka.client import producer_settings
from sluice.ops.tracing import new_traceparent
from sluice.runtime.scheduling import apply_cpu_scheduling
from sluice.stages.process.checker import ReadingChecker
from sluice.v1.ingest_pb2 import Ack, ReadingBatch

WINDOW = 32
"""Batches in flight per stream: Sluice's default ``server.inflight_per_stream``."""
TENANT = "default"
POLL_S = 0.1

Settled = Callable[[KafkaError | None], None]
OnAck = Callable[[Ack], None]
Admit = Callable[[bytes, str, OnAck], Awaitable[None] | None]
"""Takes a batch's raw bytes, the stream's traceparent and where its Ack goes; returns None,
or what to await before reading on."""
StreamHandler = Callable[[AsyncIterator[bytes], Any], AsyncIterator[Ack]]
PushHandler = Callable[[bytes, Any], Awaitable[Ack]]


class Floor:
    """Checks a batch, produces its records and answers once they are delivered."""

    def __init__(self, bootstrap: str) -> None:
        self._config = KafkaConfig(bootstrap_servers=bootstrap)
        self._checker = ReadingChecker(ChecksConfig(), TransformsConfig())
        self._dead_letters = DeadLetterBudget()
        self._producer = Producer(producer_settings(self._config, {}))
        self._reports: list[tuple[Settled, KafkaError | None]] = []
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Start serving delivery reports to the running loop."""
        self._loop = asyncio.get_running_loop()
        self._poller.start()

    def stop(self) -> None:
        """Stop the poller and flush what is left (blocking)."""
        self._stop.set()
        self._poller.join()
        self._producer.flush(5)

    def admit(self, raw: bytes, traceparent: str, on_ack: Callable[[Ack], None]) -> None:
        """Check ``raw``, produce its records, and call ``on_ack`` once they are delivered."""
        parsed = walk(raw) or ReadingBatch.FromString(raw)
        batch = FloorBatch(TENANT, raw, parsed, time.time_ns(), traceparent)
        batch.faults, batch.accepted, _, batch.value = self._checker.check(
            parsed, batch.received_unix_ns
        )
        config = self._config
        readings = readings_record(batch, config.topic)
        records = [] if readings is None else [readings]
        if batch.faults and self._dead_letters.allow():
            records.append(dead_letter_record(batch, config.dlq_topic))
        if not records:
            on_ack(ack_for_batch(batch))
            return
        left = len(records)

        def settled(error: KafkaError | None) -> None:
            nonlocal left
            if left == 0:  # already answered: an earlier record failed
                return
            if error is not None:
                left = 0
                on_ack(ack_unavailable(parsed.seq))
                return
            left -= 1
            if left == 0:
                on_ack(ack_for_batch(batch))

        for record in records:
            self._producer.produce(
                record.topic,
                record.value,
                record.key,
                headers=record.headers,  # type: ignore[arg-type]
                on_delivery=partial(self._collect, settled),
            )

    def _collect(self, settled: Settled, error: KafkaError | None, _message: Any) -> None:
        self._reports.append((settled, error))

    def _poll(self) -> None:
        loop = self._loop
        assert loop is not None
        while not self._stop.is_set():
            self._producer.poll(POLL_S)
            reports, self._reports = self._reports, []
            if reports:
                loop.call_soon_threadsafe(_settle, reports)


def pipelined_stream(admit: Admit) -> StreamHandler:
    """``Ingest.Stream`` pipelined as Sluice's receiver is: a reader admits up to ``WINDOW``
    batches ahead through ``admit``, and Acks go out in completion order."""

    async def stream(requests: AsyncIterator[bytes], _context: Any) -> AsyncIterator[Ack]:
        outbox: asyncio.Queue[Ack | None] = asyncio.Queue()
        window = asyncio.Semaphore(WINDOW)
        traceparent = new_traceparent()
        read = 0

        async def reader() -> None:
            nonlocal read
            async for raw in requests:
                await window.acquire()
                read += 1
                pending = admit(raw, traceparent, outbox.put_nowait)
                if pending is not None:
                    await pending
            outbox.put_nowait(None)

        task = asyncio.create_task(reader())
        written, ended = 0, False
        try:
            while not ended or written < read:
                ack = await outbox.get()
                if ack is None:
                    ended = True
                    continue
                yield ack
                written += 1
                window.release()
        finally:
            task.cancel()

    return stream


def unary_push(admit: Admit) -> PushHandler:
    """``Ingest.Push`` through ``admit``: one batch, answered once delivered."""

    async def push(raw: bytes, _context: Any) -> Ack:
        answered: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        pending = admit(raw, new_traceparent(), answered.set_result)
        if pending is not None:
            await pending
        return await answered

    return push


def _settle(reports: list[tuple[Settled, KafkaError | None]]) -> None:
    for settled, error in reports:
        settled(error)


async def run(listen: str, bootstrap: str) -> None:
    """Serve until SIGTERM or SIGINT, then flush."""
    floor = Floor(bootstrap)
    floor.start()
    try:
        await serve(listen, pipelined_stream(floor.admit), unary_push(floor.admit))
    finally:
        await asyncio.to_thread(floor.stop)


def run_from_command_line(
    argv: Sequence[str] | None,
    description: str,
    default_listen: str,
    serve_until_stopped: Callable[[str, str], Coroutine[Any, Any, None]],
) -> int:
    """Parse a baseline's command line (``--listen``, ``--bootstrap``, ``--cpu-scheduling``,
    ``--processes``) and serve until stopped."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--listen", default=default_listen)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--cpu-scheduling", choices=("batch", "normal"), default="batch")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="serve the one port from this many processes (SO_REUSEPORT), as --workers does",
    )
    args = parser.parse_args(argv)
    if args.processes > 1:
        return serve_in_processes(args.processes)
    apply_cpu_scheduling(args.cpu_scheduling)
    uvloop.run(serve_until_stopped(args.listen, args.bootstrap))
    return 0


def serve_in_processes(count: int) -> int:
    """Run ``count`` copies of this very command, each with ``--processes 1``, until SIGTERM
    or SIGINT, which each copy is sent in turn.

    grpc binds every copy's listener with SO_REUSEPORT (its default on Linux), so the kernel
    spreads connections over them as it does over Sluice's ``--workers``; this parent only
    waits, as Sluice's supervisor does.
    """
    command = [sys.executable, *sys.orig_argv[1:], "--processes", "1"]
    copies = [subprocess.Popen(command) for _ in range(count)]

    def forward(signum: int, _frame: object) -> None:
        for copy in copies:
            copy.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    return max(copy.wait() for copy in copies)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the floor server."""
    return run_from_command_line(argv, __doc__.split("\n\n")[0], "127.0.0.1:50081", run)


if __name__ == "__main__":
    raise SystemExit(main())
