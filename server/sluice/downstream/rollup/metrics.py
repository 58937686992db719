"""What ``sluice rollup`` exports: its records, readings, failures, transaction time and
consumer lag, and ``sluice_ready{component="rollup"}``; nothing of the gateway's."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from sluice.ops.metrics import LATENCY_BUCKETS, readiness

OUTCOMES = ("applied", "duplicate", "undecodable")
"""The values of ``sluice_rollup_records_total``'s ``outcome`` label."""


class RollupMetrics:
    """The roll-up's metric set, in ``registry``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.registry = registry
        self.ready = readiness(registry, "rollup")
        self.records = Counter(
            "sluice_rollup_records",
            "Kafka records the roll-up consumed, by outcome: applied, duplicate (already "
            "counted, by ce_source and ce_id) or undecodable (skipped).",
            ["outcome"],
            registry=r,
        )
        for outcome in OUTCOMES:
            self.records.labels(outcome)  # each series exists from the start, at 0
        self.readings = Counter(
            "sluice_rollup_readings",
            "Readings added to the roll-ups (readings of duplicate records are not).",
            registry=r,
        )
        self.store_errors = Counter(
            "sluice_rollup_store_errors",
            "Roll-up store transactions that failed and were retried.",
            registry=r,
        )
        self.commit_errors = Counter(
            "sluice_rollup_commit_errors",
            "Kafka offset commits of the roll-up that failed (the records come again and are "
            "counted once).",
            registry=r,
        )
        self.transaction_latency = Histogram(
            "sluice_rollup_transaction_seconds",
            "Time to apply one batch of Kafka records to the roll-up store.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "sluice_rollup_consumer_lag_records",
            "Records of each partition this consumer holds that the group has not committed "
            "yet: the partition's high watermark minus the group's committed offset.",
            ["topic", "partition"],
            registry=r,
            multiprocess_mode="livemax",
        )
