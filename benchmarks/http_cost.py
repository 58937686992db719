"""What one ``POST /v1/ingest`` costs Sluice and the HTTP floor, in-process: no sockets, a
real broker.

    python -m benchmarks.http_cost [--readings 1] [--requests 4000] [--rounds 5]

Each path is an ASGI app called directly, with the same JSON body, up to 16 requests in
flight, every request answered once its records are delivered to a Tansu broker that the
tool starts. Within a round the paths take turns, a tenth of their requests at a time, in an
order that rotates every turn. The paths:

- ``sluice``: Sluice's HTTP ingest app (auth, Idempotency-Key, body limits, content coding,
  metrics) over a worker's own ``Admission.submit`` and pipeline (its listeners are never
  started);
- ``floor``: the HTTP floor (``baselines/http_floor.py``): the same route and JSON parsing,
  then ``Floor.admit``;
- ``sluice app, floor behind``: Sluice's HTTP ingest app over ``Floor.admit``.

So ``sluice app, floor behind`` less ``floor`` is what Sluice's HTTP layer adds, and
``sluice`` less ``sluice app, floor behind`` what its admission and pipeline add. What uvicorn
and the sockets cost is the same on both sides and is left out; the whole-server figures are
``make bench``'s ``http_*`` scenarios. A request's cost is the process's CPU time (every
thread, librdkafka's too) per request. Nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import uvloop
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message

from benchmarks.baselines.floor import Floor
from benchmarks.baselines.http_floor import HttpFloor
from benchmarks.pipeline_cost import SLICES, figures, in_process_broker, in_turns, report
from benchmarks.workloads import WORKLOADS, BatchFactory
from sluice.core.config.settings import load_settings
from sluice.frontdoors.httpingest.app import INGEST_PATH, HttpIngestApp
from sluice.frontdoors.receiver.admission import AckCallback
from sluice.ops.metrics import Metrics
from sluice.ops.tracing import new_traceparent
from sluice.runtime.collector import tune_for_steady_state
from sluice.runtime.worker import Worker

WINDOW: Final = 16
SLUICE, FLOOR, APP_OVER_FLOOR = "sluice", "floor", "sluice app, floor behind"


class FloorBehindTheApp:
    """``Floor.admit`` in the shape of ``Admission.submit``, for Sluice's HTTP app."""

    def __init__(self, floor: Floor) -> None:
        self._floor = floor
        self._traceparent = new_traceparent()

    async def submit(
        self,
        tenant: str,
        raw: bytes,
        on_ack: AckCallback,
        traceparent: str = "",
        *,
        resendable: bool = True,
    ) -> None:
        """Admit ``raw`` into the floor; ``on_ack`` once its records are delivered."""
        pending = self._floor.admit(raw, self._traceparent, on_ack)
        if pending is not None:
            await pending


async def post(app: ASGIApp, body: bytes) -> int:
    """``POST /v1/ingest`` with ``body`` straight into ``app``; the response's status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": INGEST_PATH,
        "raw_path": INGEST_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    sent = False
    status = 0

    async def receive() -> Message:
        nonlocal sent
        if sent:  # the body is whole: what follows is only ever a disconnect
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def drive(app: ASGIApp, body: bytes, count: int) -> float:
    """CPU seconds per request for ``count`` requests into ``app``, ``WINDOW`` in flight."""
    window = asyncio.Semaphore(WINDOW)
    statuses: dict[int, int] = {}

    async def one() -> None:
        try:
            status = await post(app, body)
            statuses[status] = statuses.get(status, 0) + 1
        finally:
            window.release()

    requests = []
    start = time.process_time()
    for _ in range(count):
        await window.acquire()
        requests.append(asyncio.ensure_future(one()))
    await asyncio.gather(*requests)
    cost = (time.process_time() - start) / count
    if set(statuses) != {200}:
        raise RuntimeError(f"requests not answered 200: {statuses}")
    return cost


async def _costs(bootstrap: str, body: bytes, requests: int, rounds: int) -> dict[str, list[float]]:
    settings = load_settings(None, {"SLUICE__KAFKA__BOOTSTRAP_SERVERS": bootstrap})
    metrics = Metrics(CollectorRegistry())
    worker = Worker(settings, metrics)  # started up to its pipeline only
    await worker.pipeline.start()
    floor = Floor(bootstrap)
    floor.start()
    max_id = settings.server.max_id_length

    def sluice_app(admission: Any) -> ASGIApp:
        return HttpIngestApp(admission, worker.auth, settings.http, metrics, max_id).app

    apps: dict[str, ASGIApp] = {
        SLUICE: sluice_app(worker.admission),
        FLOOR: HttpFloor(floor).app,
        APP_OVER_FLOOR: sluice_app(FloorBehindTheApp(floor)),
    }
    costs: dict[str, list[float]] = {name: [] for name in apps}
    per_slice = max(requests // SLICES, 1)
    try:
        for app in apps.values():  # warm-up: caches, connections
            await drive(app, body, max(requests // 5, 1))
        tune_for_steady_state()  # as a worker does once started
        for _ in range(rounds):
            costs_of_round = await in_turns(
                list(apps), lambda name, _piece: drive(apps[name], body, per_slice)
            )
            for name, cost in costs_of_round.items():
                costs[name].append(cost)
    finally:
        await asyncio.to_thread(floor.stop)
        await worker.pipeline.shutdown()
    return costs


def summarise(costs: dict[str, list[float]], readings: int, requests: int) -> dict[str, Any]:
    """µs per request of each path; the floor over Sluice, and the extra of each layer."""
    sluice, floor, app = costs[SLUICE], costs[FLOOR], costs[APP_OVER_FLOOR]
    return {
        "readings_per_request": readings,
        "requests_per_round": requests,
        "us_per_request": {name: figures(values) for name, values in costs.items()},
        "floor_over_sluice": figures([f / s for f, s in zip(floor, sluice, strict=True)], 1, 3),
        "http_layer_extra_us": figures([a - f for a, f in zip(app, floor, strict=True)]),
        "pipeline_extra_us": figures([s - a for s, a in zip(sluice, app, strict=True)]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the three paths and print (or write) the CPU µs per request of each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=1, help="readings per request")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="plain")
    parser.add_argument("--requests", type=int, default=4000, help="per path and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    if min(args.readings, args.requests, args.rounds) < 1:
        parser.error("--readings, --requests and --rounds must be at least 1")
    body = BatchFactory(WORKLOADS[args.workload]).json_body(args.readings)
    with in_process_broker() as bootstrap:
        costs = uvloop.run(_costs(bootstrap, body, args.requests, args.rounds))
    report({"workload": args.workload, **summarise(costs, args.readings, args.requests)}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
