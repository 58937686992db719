"""The transport ceiling: the same gRPC stream, answered by a server that only parses each
batch and acknowledges it at once.

    python -m benchmarks.baselines.transport_ceiling --listen 127.0.0.1:50061

It runs what Sluice's receiver runs underneath (grpc.aio on uvloop, a generic handler that
takes raw bytes, the same message limits, and a Sluice worker's CPU scheduling policy,
``--cpu-scheduling``, and garbage-collector settings) and nothing else: no checks, no Kafka.
Sluice can approach its readings per CPU-second, never pass them.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
import uvloop

from sluice.core.config.server import DEFAULT_MAX_STREAMS
from sluice.runtime.collector import tune_for_steady_state
from sluice.runtime.scheduling import apply_cpu_scheduling
from sluice.v1.ingest_pb2 import Ack, AckStatus, ReadingBatch

SERVICE = "sluice.v1.Ingest"
OK = AckStatus.ACK_STATUS_OK
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


async def _stream(requests: AsyncIterator[bytes], _context: Any) -> AsyncIterator[Ack]:
    parse = ReadingBatch.FromString
    async for raw in requests:
        batch = parse(raw)
        yield Ack(seq=batch.seq, status=OK, accepted=len(batch.readings))


async def _push(raw: bytes, _context: Any) -> Ack:
    batch = ReadingBatch.FromString(raw)
    return Ack(seq=batch.seq, status=OK, accepted=len(batch.readings))


Stream = Callable[[AsyncIterator[bytes], Any], AsyncIterator[Ack]]
Push = Callable[[bytes, Any], Awaitable[Ack]]


async def serve(listen: str, stream: Stream = _stream, push: Push = _push) -> None:
    """Serve ``Ingest`` with ``stream`` and ``push`` on raw request bytes, as Sluice's receiver
    does, until SIGTERM or SIGINT."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # As a Sluice worker (runtime/worker.py), so that a fleet starting at once is
            # served, not refused RESOURCE_EXHAUSTED by grpc's pending-call limit.
            ("grpc.server.max_pending_requests", DEFAULT_MAX_STREAMS),
            ("grpc.server.max_pending_requests_hard_limit", DEFAULT_MAX_STREAMS),
        ]
    )
    serialize = Ack.SerializeToString
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Stream": grpc.stream_stream_rpc_method_handler(stream, response_serializer=serialize),
            "Push": grpc.unary_unary_rpc_method_handler(push, response_serializer=serialize),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(listen)
    await server.start()
    tune_for_steady_state()  # as a Sluice worker does once started
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(grace=1.0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the transport-ceiling server."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:50061")
    parser.add_argument("--cpu-scheduling", choices=("batch", "normal"), default="batch")
    args = parser.parse_args(argv)
    apply_cpu_scheduling(args.cpu_scheduling)
    uvloop.run(serve(args.listen))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
