"""The naive baseline: what a straightforward Python ingestion server does, built fairly.

    python -m benchmarks.baselines.naive_server --listen 127.0.0.1:50071 --bootstrap HOST:PORT

Specified so that the comparison is fair:

- a grpcio *sync* server with a pool of 16 threads, requests deserialized by grpc;
- the same check module as Sluice (``ReadingChecker``), one checker per thread;
- one Kafka record per accepted reading (a serialized ``Reading``, keyed by device id),
  produced with the same producer settings as Sluice (acks=all, idempotence, lz4, linger);
- each Ack sent once the delivery callbacks of all its records have fired, with a poller
  thread serving the callbacks: no ``flush()`` per request;
- the same CPU scheduling policy as a Sluice worker (``--cpu-scheduling``).

It reads the next batch of a stream only after answering the previous one (one batch in
flight per stream), so a load generator needs several streams to keep its threads busy.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent import futures
from typing import Any

import grpc
from confluent_kafka import Producer

from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.core.record_contract import DEFAULT_TOPIC
from sluice.runtime.scheduling import apply_cpu_scheduling
from sluice.stages.process.checker import ReadingChecker
from sluice.v1.ingest_pb2 import Ack, AckStatus, ReadingBatch, Rejection

THREADS = 16
DELIVERY_TIMEOUT_S = 30.0
SERVICE = "sluice.v1.Ingest"


class _Pending:
    """Counts a batch's outstanding delivery reports; ``wait`` returns once all arrived."""

    def __init__(self, records: int) -> None:
        self._left = records
        self._failed = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        if records == 0:
            self._done.set()

    def delivered(self, error: Any, _message: Any) -> None:
        with self._lock:
            self._failed = self._failed or error is not None
            self._left -= 1
            if self._left == 0:
                self._done.set()

    def wait(self) -> bool:
        """True when every record was delivered."""
        return self._done.wait(DELIVERY_TIMEOUT_S) and not self._failed


class NaiveIngest:
    """Checks a batch, produces one record per accepted reading, answers after delivery."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._local = threading.local()

    def _checker(self) -> ReadingChecker:
        checker: ReadingChecker | None = getattr(self._local, "checker", None)
        if checker is None:
            checker = self._local.checker = ReadingChecker(ChecksConfig(), TransformsConfig())
        return checker

    def handle(self, batch: ReadingBatch) -> Ack:
        """The Ack of one batch, once its accepted readings are in Kafka."""
        faults, accepted, _ = self._checker().check_message(batch, time.time_ns())
        rejected = {fault.index for fault in faults}
        pending = _Pending(accepted)
        for index, reading in enumerate(batch.readings):
            if index in rejected:
                continue
            while True:
                try:
                    self._producer.produce(
                        self._topic,
                        reading.SerializeToString(),
                        reading.device_id.encode(),
                        on_delivery=pending.delivered,
                    )
                    break
                except BufferError:
                    time.sleep(0.001)  # the poller thread frees room
        if not pending.wait():
            return Ack(seq=batch.seq, status=AckStatus.ACK_STATUS_UNAVAILABLE)
        ack = Ack(seq=batch.seq, accepted=accepted, status=AckStatus.ACK_STATUS_OK)
        if faults:
            ack.status = AckStatus.ACK_STATUS_PARTIAL if accepted else AckStatus.ACK_STATUS_REJECTED
            ack.rejections.extend(Rejection(index=f.index, reason=f.reason) for f in faults)
        return ack

    def stream(self, requests: Iterator[ReadingBatch], _context: Any) -> Iterator[Ack]:
        for batch in requests:
            yield self.handle(batch)

    def push(self, batch: ReadingBatch, _context: Any) -> Ack:
        return self.handle(batch)


def _poll(producer: Producer, stop: threading.Event) -> None:
    while not stop.is_set():
        producer.poll(0.05)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:50071")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", default=DEFAULT_TOPIC)
    parser.add_argument("--cpu-scheduling", choices=("batch", "normal"), default="batch")
    args = parser.parse_args(argv)
    apply_cpu_scheduling(args.cpu_scheduling)
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 5,
        }
    )
    stop = threading.Event()
    poller = threading.Thread(target=_poll, args=(producer, stop), daemon=True)
    poller.start()
    service = NaiveIngest(producer, args.topic)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=THREADS))
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Stream": grpc.stream_stream_rpc_method_handler(
                service.stream, ReadingBatch.FromString, Ack.SerializeToString
            ),
            "Push": grpc.unary_unary_rpc_method_handler(
                service.push, ReadingBatch.FromString, Ack.SerializeToString
            ),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(args.listen)
    server.start()
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    done.wait()
    server.stop(grace=1.0).wait()
    stop.set()
    poller.join()
    producer.flush(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
