"""Sluice's admission and pipeline behind the floor's stream handling: where (a)'s extra lies.

    python -m benchmarks.baselines.sluice_behind_floor --listen ADDR --bootstrap HOST:PORT

(a) spends more above the floor end to end than ``pipeline_cost`` measures in-process. This
server tells the two possible places apart: it serves ``Ingest.Stream`` exactly as the floor
does (``baselines/floor.py``: the transport ceiling's stream, a reader and a writer, 32
batches in flight), but hands each batch to a Sluice worker's own ``Admission.submit``, with
Sluice's whole pipeline behind it (checks, records, the durable sink, the dedup cache, the
budget, the metrics). If it costs what the floor costs, the extra is Sluice's stream session
and service; if it costs what (a) costs, the extra is the admission and the pipeline.

Both serve through the same ``floor.pipelined_stream`` and ``floor.unary_push``; they await
``submit`` where the floor's ``admit`` returns nothing to await.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from prometheus_client import CollectorRegistry

from benchmarks.ablations import Variant
from benchmarks.baselines.floor import (
    TENANT,
    Admit,
    OnAck,
    pipelined_stream,
    run_from_command_line,
    unary_push,
)
from benchmarks.baselines.transport_ceiling import serve
from sluice.core.config.settings import load_settings
from sluice.frontdoors.receiver.admission import Admission
from sluice.ops.metrics import Metrics
from sluice.ops.tracing import configure_tracing
from sluice.runtime.worker import Worker


def admit_with(admission: Admission) -> Admit:
    """The floor's ``admit``, done by a Sluice worker's ``Admission.submit``."""

    def admit(raw: bytes, traceparent: str, on_ack: OnAck) -> Awaitable[None]:
        return admission.submit(TENANT, raw, on_ack, traceparent)

    return admit


async def run(listen: str, bootstrap: str) -> None:
    """Serve until SIGTERM or SIGINT, then drain the pipeline."""
    await serve_behind_floor(listen, bootstrap)


async def serve_behind_floor(
    listen: str, bootstrap: str, off: frozenset[str] = frozenset()
) -> None:
    """Serve a worker's pipeline (or, with features ``off``, an ``ablations.Variant`` of it)
    behind the floor's stream handling until SIGTERM or SIGINT, then drain it."""
    configure_tracing()  # as `sluice serve` does: with no exporter, no span per batch
    settings = load_settings(None, {"SLUICE__KAFKA__BOOTSTRAP_SERVERS": bootstrap})
    if off:
        variant = Variant(settings, off)
        admission, start, stop = variant.admission, variant.start, variant.shutdown
    else:
        worker = Worker(settings, Metrics(CollectorRegistry()))  # up to its pipeline only
        admission, start, stop = worker.admission, worker.pipeline.start, worker.pipeline.shutdown
    await start()
    admit = admit_with(admission)
    try:
        await serve(listen, pipelined_stream(admit), unary_push(admit))
    finally:
        await stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server."""
    return run_from_command_line(argv, __doc__.split("\n\n")[0], "127.0.0.1:50082", run)


if __name__ == "__main__":
    raise SystemExit(main())
