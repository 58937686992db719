"""The gateway worker's Prometheus metrics, and the readiness gauge every process kind shares.

Each process kind declares its families in one place, on an injected registry, so that it
exports only what means something for it: the gateway worker here (``Metrics``), ``sluice
rollup`` in ``sluice.downstream.rollup.metrics`` and ``sluice query`` in
``sluice.downstream.query.metrics``. All three export ``sluice_ready{component}``.

Stages receive a ``Metrics`` and never create metrics themselves. Tests pass a fresh
``CollectorRegistry`` and read samples with ``registry.get_sample_value``. Under the
supervisor, ``PROMETHEUS_MULTIPROC_DIR`` is set before this module is imported, values go
to per-process files, and the gauges aggregate with the modes given here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from weakref import WeakKeyDictionary

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from sluice.ops.collector_pauses import PAUSE_BUCKETS
from sluice.ops.tally import CountTally, HistogramTally, Tallies

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Component = Literal["gateway", "rollup", "query"]
"""The process kinds, as the ``component`` label of ``sluice_ready`` names them."""

_READY: WeakKeyDictionary[CollectorRegistry, Gauge] = WeakKeyDictionary()


def readiness(registry: CollectorRegistry, component: Component) -> Gauge:
    """``sluice_ready{component}`` of ``registry``, declared once per registry, so that a
    process hosting several kinds (``sluice dev``) exports one series per kind."""
    family = _READY.get(registry)
    if family is None:
        family = _READY[registry] = Gauge(
            "sluice_ready",
            "1 while the component is ready: the gateway accepts new batches (0 when "
            "draining, or when Kafka is unreachable and the spool full or disabled), the "
            "roll-up consumes, the query API serves.",
            ["component"],
            registry=registry,
            multiprocess_mode="livemin",
        )
    return family.labels(component)


@dataclass(frozen=True, slots=True)
class HotPath:
    """The gateway's per-batch updates, tallied and published in rounds (``sluice.ops.tally``);
    labelled per-batch counts (``sluice_batches{status}``, rejections by reason) are tallied by
    their callers with ``Metrics.tallies.count`` or ``by_label``; the queue gauges are read
    from the in-flight budget (``Metrics.tallies.reading``)."""

    readings_received: CountTally
    readings_accepted: CountTally
    ack_latency: HistogramTally
    produce_latency: HistogramTally


class Metrics:
    """The gateway worker's metric set (ingest, Kafka, spool, queues), in ``registry``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.registry = registry
        # Registered first, so that a collection publishes the tallies before it reads.
        self.tallies = Tallies(registry)
        self.readings_received = Counter(
            "sluice_readings_received",
            "Readings received, before any check.",
            registry=r,
        )
        self.readings_accepted = Counter(
            "sluice_readings_accepted",
            "Readings made durable and acknowledged.",
            registry=r,
        )
        self.readings_rejected = Counter(
            "sluice_readings_rejected",
            "Readings rejected, by reason code (per-reading checks and batch-level refusals).",
            ["reason"],
            registry=r,
        )
        self.batches = Counter(
            "sluice_batches",
            "Batches answered, by Ack status.",
            ["status"],
            registry=r,
        )
        self.rate_limited = Counter(
            "sluice_rate_limited",
            "Rate-limit decisions that refused or delayed work, by scope "
            "(tenant, device, bytes, dlq) and action (reject, delay).",
            ["scope", "action"],
            registry=r,
        )
        self.calls_refused = Counter(
            "sluice_calls_refused",
            "Calls refused or ended by the server, by reason: credentials (missing, malformed, "
            "unknown, expired, scope, tenant), stream limits (streams_per_connection, streams).",
            ["reason"],
            registry=r,
        )
        self.records_produced = Counter(
            "sluice_records_produced",
            "Kafka records delivered, by topic.",
            ["topic"],
            registry=r,
        )
        self.delivery_errors = Counter(
            "sluice_delivery_errors",
            "Kafka delivery reports with an error, by librdkafka error name.",
            ["error"],
            registry=r,
        )
        self.producer_recreated = Counter(
            "sluice_producer_recreated",
            "Times the Kafka producer was recreated after a fatal error.",
            registry=r,
        )
        self.ack_latency = Histogram(
            "sluice_ack_latency_seconds",
            "Time from receiving a batch to sending its Ack.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.produce_latency = Histogram(
            "sluice_produce_latency_seconds",
            "Time from producing a record to its delivery report.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_readings = Gauge(
            "sluice_queue_readings",
            "Readings read from streams and not yet acknowledged.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.queue_bytes = Gauge(
            "sluice_queue_bytes",
            "Bytes read from streams and not yet acknowledged.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.gc_pauses = Histogram(
            "sluice_gc_pause_seconds",
            "How long each collection of the cyclic garbage collector stopped the process, "
            "by generation (0 young, 2 full).",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=r,
        )
        self.active_streams = Gauge(
            "sluice_active_streams",
            "Open Ingest.Stream calls.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.spool_bytes = Gauge(
            "sluice_spool_bytes",
            "Bytes held in the local spool.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.spool_segments = Gauge(
            "sluice_spool_segments",
            "Segments held in the local spool.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.spool_max_bytes = Gauge(
            "sluice_spool_max_bytes",
            "Bytes the local spool may hold before it refuses batches (0 when disabled); "
            "summed over workers like sluice_spool_bytes, so the two divide.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.spooled_readings = Counter(
            "sluice_spooled_readings",
            "Readings appended to the local spool (Kafka unreachable, or records it gave back).",
            registry=r,
        )
        self.spool_replayed_readings = Counter(
            "sluice_spool_replayed_readings",
            "Readings replayed from the local spool and delivered to Kafka.",
            registry=r,
        )
        self.spool_corrupt_records = Counter(
            "sluice_spool_corrupt_records",
            "Damaged stretches of the spool (torn tails, checksum failures) cut out and lost.",
            registry=r,
        )
        self.breaker_opened = Counter(
            "sluice_breaker_opened",
            "Times the Kafka circuit breaker opened (Kafka found unreachable).",
            registry=r,
        )
        self.broker_up = Gauge(
            "sluice_broker_up",
            "1 while the Kafka circuit breaker is closed or probing; 0 while it is open "
            "(the cluster is unreachable or not delivering).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.ready = readiness(registry, "gateway")
        self.http_requests = Counter(
            "sluice_http_requests",
            "HTTP ingest requests answered, by HTTP status code.",
            ["code"],
            registry=r,
        )

        tally = self.tallies
        self.hot = HotPath(
            readings_received=tally.count(self.readings_received),
            readings_accepted=tally.count(self.readings_accepted),
            ack_latency=tally.histogram(self.ack_latency, LATENCY_BUCKETS),
            produce_latency=tally.histogram(self.produce_latency, LATENCY_BUCKETS),
        )
