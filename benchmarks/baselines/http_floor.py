"""The HTTP floor: what ``POST /v1/ingest`` costs with nothing of Sluice's own around it.

    python -m benchmarks.baselines.http_floor --listen 127.0.0.1:8091 --bootstrap HOST:PORT

The same ASGI stack as Sluice's HTTP ingest (a Starlette route on uvicorn, served by
Sluice's own listener), the same JSON parsing (Sluice's ``parse_body`` and ``to_batch``: the
body to a ``ReadingBatch``), then the floor's per-batch work (``floor.Floor.admit``: the C walk
and checks, the records in their contract, produced with Sluice's producer settings), and the
Ack as JSON once every record is delivered. No auth, no Idempotency-Key, no content coding,
no admission (buckets, dedup, budget), no metrics, no stages, no breaker, no spool: what any
Python server on this stack must pay for the HTTP half of Sluice's contract.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Sequence

from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from benchmarks.baselines.floor import Floor, run_from_command_line
from sluice.frontdoors.httpingest.body import BodyError, parse_body, to_batch
from sluice.ops.server import OpsServer
from sluice.ops.tracing import new_traceparent
from sluice.runtime.collector import tune_for_steady_state
from sluice.v1.ingest_pb2 import Ack

SOURCE_ID = "http"
OK_STATUSES = frozenset({1, 2})
"""ACK_STATUS_OK and ACK_STATUS_PARTIAL, answered 200."""


class HttpFloor:
    """``POST /v1/ingest`` into a ``Floor``, answered once the batch's records are delivered."""

    def __init__(self, floor: Floor) -> None:
        self._floor = floor
        self._traceparent = new_traceparent()
        self.app = Starlette(routes=[Route("/v1/ingest", self.ingest, methods=["POST"])])

    async def ingest(self, request: Request) -> JSONResponse:
        """Parse the JSON body, admit it, and answer its Ack once it is delivered."""
        try:
            body = parse_body(await request.body())
        except BodyError as bad:
            return JSONResponse({"error": "INVALID_BODY", "message": str(bad)}, status_code=400)
        batch = to_batch(body, SOURCE_ID, str(uuid.uuid4()), 1)
        answer: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._floor.admit(batch.SerializeToString(), self._traceparent, answer.set_result)
        ack = await answer
        return JSONResponse(
            MessageToDict(
                ack, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            ),
            status_code=200 if ack.status in OK_STATUSES else 503,
        )


async def run(listen: str, bootstrap: str) -> None:
    """Serve until SIGTERM or SIGINT, then flush."""
    floor = Floor(bootstrap)
    floor.start()
    server = OpsServer(listen, HttpFloor(floor).app)
    await server.start()
    tune_for_steady_state()  # as a Sluice worker does once started
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.shutdown()
        await asyncio.to_thread(floor.stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the HTTP floor."""
    return run_from_command_line(argv, __doc__.split("\n\n")[0], "127.0.0.1:8091", run)


if __name__ == "__main__":
    raise SystemExit(main())
