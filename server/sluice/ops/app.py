"""The ops HTTP app: ``/metrics``, ``/healthz`` and ``/readyz``.

It belongs on the ops port only; no public API is ever served here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sluice.ops.tally import PUBLISH_INTERVAL_S

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROCESS_SETTLE_S = 2 * PUBLISH_INTERVAL_S
"""How long a scrape under the supervisor waits for the workers' next publish."""
DEFAULT_NOT_READY_REASON = (
    "not accepting batches: draining, or Kafka and the spool both unavailable"
)


def build_ops_app(
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    why_not_ready: Callable[[], str] | None = None,
) -> Starlette:
    """The ops app of one process.

    ``/metrics`` exposes ``registry``, or, when ``PROMETHEUS_MULTIPROC_DIR`` is set, the
    values of every worker process summed from that directory. ``/healthz`` answers 200
    while the event loop runs. ``/readyz`` answers 200 when ``ready()`` is true, else 503
    with the reason from ``why_not_ready()``.

    Per-batch counts are tallied and published in rounds (``sluice.ops.tally``). In one
    process, collecting ``registry`` publishes them first. Under the supervisor, a scrape
    first waits ``MULTIPROCESS_SETTLE_S``, long enough for every worker to publish once, so
    that it shows everything acknowledged before it began.
    """

    async def metrics(request: Request) -> Response:
        if os.environ.get(MULTIPROC_DIR_ENV):
            await asyncio.sleep(MULTIPROCESS_SETTLE_S)
        body = await run_in_threadpool(_exposition, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            if ready():
                return JSONResponse({"status": "ready"})
            reason = why_not_ready() if why_not_ready is not None else DEFAULT_NOT_READY_REASON
        except Exception as exc:
            reason = f"readiness check failed: {exc!r}"
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)

    return Starlette(
        routes=[
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


def _exposition(registry: CollectorRegistry) -> bytes:
    """Prometheus text of ``registry``, or of all processes under a multiprocess directory."""
    multiproc_dir = os.environ.get(MULTIPROC_DIR_ENV)
    if not multiproc_dir:
        return generate_latest(registry)
    aggregate = CollectorRegistry()
    MultiProcessCollector(aggregate, path=multiproc_dir)  # type: ignore[no-untyped-call]
    return generate_latest(aggregate)
