"""Readings, records and a reference roll-up computed the plain way, for the roll-up tests."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Sequence
from typing import Literal

from confluent_kafka import Producer

from sluice.core.batch import Batch, Record
from sluice.core.config.kafka import KafkaConfig
from sluice.core.record_contract import DEFAULT_TOPIC
from sluice.delivery.kafka.records import readings_records
from sluice.downstream.rollup.aggregate import Aggregate
from sluice.downstream.rollup.decode import DecodedRecord
from sluice.downstream.rollup.store import RollupStore
from sluice.v1.ingest_pb2 import Reading, ReadingBatch

HOUR_NS = 3600 * 1_000_000_000
BASE_HOUR_NS = 1_767_322_800 * 1_000_000_000
"""2026-01-02T03:00:00Z, a whole hour."""
FAR_SPAN = (0, 2**40)
"""A span of bucket starts that holds every test hour."""

Key = tuple[str, str, str, int]


def random_readings(
    count: int,
    seed: int,
    devices: Sequence[str] = ("dev-1", "dev-2", "dev-3"),
    metrics: Sequence[str] = ("temperature", "humidity"),
    hours: int = 3,
    start_ns: int = BASE_HOUR_NS,
) -> list[Reading]:
    """``count`` readings spread over devices, metrics and ``hours`` hours from ``start_ns``."""
    rng = random.Random(seed)
    return [
        Reading(
            device_id=rng.choice(devices),
            metric=rng.choice(metrics),
            value=round(rng.uniform(-40.0, 60.0), 3),
            time_unix_nano=start_ns + rng.randrange(hours * HOUR_NS),
        )
        for _ in range(count)
    ]


def record(
    readings: Iterable[Reading], event_id: str, tenant: str = "acme", source: str = "gw-1"
) -> DecodedRecord:
    """A decoded readings record of ``tenant``'s gateway ``source``."""
    return DecodedRecord(
        source=f"/tenants/{tenant}/sources/{source}",
        event_id=event_id,
        tenant=tenant,
        batch=ReadingBatch(source_id=source, readings=list(readings)),
    )


def kafka_records(
    readings: Sequence[Reading],
    seq: int,
    session: str = "session-1",
    tenant: str = "acme",
    source: str = "gw-1",
    encoding: Literal["protobuf", "json"] = "protobuf",
    key: Literal["source", "device"] = "source",
    topic: str = DEFAULT_TOPIC,
) -> list[Record]:
    """The readings records the server would produce for this accepted batch."""
    message = ReadingBatch(seq=seq, source_id=source, session_id=session, readings=readings)
    loop = asyncio.new_event_loop()  # a Batch needs a future; this one is never used
    try:
        batch = Batch(
            tenant=tenant,
            raw=message.SerializeToString(),
            parsed=message,
            received_unix_ns=BASE_HOUR_NS,
            received_monotonic=0.0,
            done=loop.create_future(),
            accepted=len(readings),
        )
        return readings_records(batch, KafkaConfig(encoding=encoding, key=key, topic=topic))
    finally:
        loop.close()


def produce(bootstrap: str, records: Iterable[Record]) -> None:
    """Produce ``records`` as they are and wait until every one is delivered."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for item in records:
        producer.produce(
            item.topic, item.value, item.key, headers=item.headers, on_delivery=delivered
        )
        producer.poll(0)
    assert producer.flush(30) == 0, "records still undelivered after 30 s"
    assert not failures, failures


def reference(batches: Iterable[tuple[str, Iterable[Reading]]]) -> dict[Key, Aggregate]:
    """The hourly figures of (tenant, readings) pairs, computed reading by reading."""
    grouped: dict[Key, list[Reading]] = {}
    for tenant, readings in batches:
        for reading in readings:
            hour = reading.time_unix_nano // HOUR_NS * 3600
            grouped.setdefault((tenant, reading.device_id, reading.metric, hour), []).append(
                reading
            )
    return {
        key: Aggregate(
            count=len(group),
            total=sum(r.value for r in group),
            minimum=min(r.value for r in group),
            maximum=max(r.value for r in group),
            first_ns=min(r.time_unix_nano for r in group),
            last_ns=max(r.time_unix_nano for r in group),
        )
        for key, group in grouped.items()
    }


def stored(store: RollupStore, tenants: Iterable[str]) -> dict[Key, Aggregate]:
    """Every hourly roll-up of ``tenants``, read back through the store's read interface."""
    result: dict[Key, Aggregate] = {}
    for tenant in tenants:
        for device in store.devices(tenant, "", 10_000):
            for metric in store.metrics(tenant, device.device_id, "", 10_000):
                for bucket in store.buckets(
                    tenant, device.device_id, metric.metric, FAR_SPAN, 100_000
                ):
                    key = (tenant, device.device_id, metric.metric, bucket.start_s)
                    result[key] = bucket.aggregate
    return result


def assert_same_figures(actual: dict[Key, Aggregate], expected: dict[Key, Aggregate]) -> None:
    """Equal keys and figures; sums compared with a tolerance (addition order differs)."""
    assert sorted(actual) == sorted(expected)
    for key, want in expected.items():
        got = actual[key]
        assert (got.count, got.minimum, got.maximum, got.first_ns, got.last_ns) == (
            want.count,
            want.minimum,
            want.maximum,
            want.first_ns,
            want.last_ns,
        ), key
        assert abs(got.total - want.total) <= 1e-9 * max(1.0, abs(want.total)), key
