"""A locust load test for Sluice's gRPC API: each user streams batches and pushes some.

    locust -f benchmarks/locustfile.py --headless -u 50 -r 10 -t 30s --host 127.0.0.1:50051

grpc runs on gevent here (``grpc.experimental.gevent.init_gevent``), as locust needs. Each
user keeps a session; its ``stream`` task sends ``STREAM_BATCHES`` batches on one
``Ingest.Stream`` call, its ``push`` task one batch with ``Ingest.Push``. Every Ack is one
locust request (``Ingest.Stream`` or ``Ingest.Push``), timed from the send to the Ack: OK and
PARTIAL count as successes, any other status or a gRPC error as a failure. Batches come from
the pinned ``plain`` workload (100 readings; ``LOCUST_BATCH_SIZE`` changes that).

Locust is handy for shaping a user population; for the rates a server core can take, use the
native load generator (``python -m benchmarks.loadgen``).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import grpc.experimental.gevent as grpc_gevent  # type: ignore[import-not-found]

grpc_gevent.init_gevent()  # before any channel exists

from locust import User, between, task  # noqa: E402  (grpc must be patched first)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from benchmarks.workloads import WORKLOADS, BatchFactory, BatchHeader  # noqa: E402
from sluice.v1.ingest_pb2 import Ack, AckStatus  # noqa: E402

DEFAULT_HOST = "127.0.0.1:50051"
STREAM_METHOD = "/sluice.v1.Ingest/Stream"
PUSH_METHOD = "/sluice.v1.Ingest/Push"
STREAM_BATCHES = 10
BODIES = 16
CALL_TIMEOUT_S = 30.0
SUCCESS = frozenset({AckStatus.ACK_STATUS_OK, AckStatus.ACK_STATUS_PARTIAL})


class AckError(Exception):
    """An Ack that did not make the batch durable."""


class IngestUser(User):
    """One gateway: a session of its own, batches streamed and pushed."""

    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self._channel = grpc.insecure_channel(self.host or DEFAULT_HOST)
        self._stream = self._channel.stream_stream(STREAM_METHOD, None, Ack.FromString)
        self._push = self._channel.unary_unary(PUSH_METHOD, None, Ack.FromString)
        size = int(os.environ.get("LOCUST_BATCH_SIZE", "100"))
        self._bodies = BatchFactory(WORKLOADS["plain"], seed=id(self) % 10_000).bodies(BODIES, size)
        self._header = BatchHeader("locust", str(uuid.uuid4()))
        self._seq = 0

    def on_stop(self) -> None:
        self._channel.close()

    def _next(self) -> tuple[int, bytes]:
        self._seq += 1
        return self._seq, self._header.encode(self._seq, self._bodies[self._seq % BODIES])

    @task(3)
    def stream(self) -> None:
        """One Ingest.Stream call of ``STREAM_BATCHES`` batches; one request per Ack."""
        sent: dict[int, tuple[float, int]] = {}

        def requests() -> Iterator[bytes]:
            for _ in range(STREAM_BATCHES):
                seq, raw = self._next()
                sent[seq] = (time.perf_counter(), len(raw))
                yield raw

        try:
            for ack in self._stream(requests(), timeout=CALL_TIMEOUT_S):
                began, size = sent.pop(ack.seq, (time.perf_counter(), 0))
                self._report("Ingest.Stream", began, size, ack)
        except grpc.RpcError as error:
            self._fail("Ingest.Stream", error)
        for began, size in sent.values():  # batches the call ended without answering
            self._report("Ingest.Stream", began, size, None)

    @task(1)
    def push(self) -> None:
        """One Ingest.Push call."""
        _, raw = self._next()
        began = time.perf_counter()
        try:
            ack = self._push(raw, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as error:
            self._fail("Ingest.Push", error)
            return
        self._report("Ingest.Push", began, len(raw), ack)

    def _report(self, name: str, began: float, size: int, ack: Ack | None) -> None:
        error = None
        if ack is None:
            error = AckError("no Ack before the call ended")
        elif ack.status not in SUCCESS:
            error = AckError(f"{AckStatus.Name(ack.status)} {ack.reason}".strip())
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - began) * 1000,
            response_length=size,
            exception=error,
            context={},
        )

    def _fail(self, name: str, error: grpc.RpcError) -> None:
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=0,
            response_length=0,
            exception=error,
            context={},
        )
