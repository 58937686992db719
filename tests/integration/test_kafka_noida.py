"""Record size limits against noida-db, a Kafka-protocol broker that enforces them (~1 MB)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import pytest

from sluice.core import reasons
from sluice.core.config.kafka import KafkaConfig
from sluice.core.errors import DeliveryFailed
from sluice.delivery.kafka.topics import create_topics
from sluice.v1.ingest_pb2 import ReadingBatch
from tests.support.batches import KafkaPipeline, make_batch, reading
from tests.support.brokers import NoidaKafka, consume_records

pytestmark = pytest.mark.integration

DELIVERED_WITHIN_S = 30.0
NOIDA_LIMIT = 1_048_576


def noida_config(noida: NoidaKafka, **overrides: Any) -> KafkaConfig:
    topic = f"readings-{uuid.uuid4().hex[:8]}"
    create_topics(noida.bootstrap, [topic], partitions=1)
    return KafkaConfig(bootstrap_servers=noida.bootstrap, topic=topic, **overrides)


def bulky_reading(value: float, size: int) -> Any:
    # Random hex does not compress, so the broker sees (about) the size the cap counted.
    return reading(value=value, tags={"blob": secrets.token_hex(size // 2)})


async def test_a_batch_split_below_the_broker_limit_is_accepted_whole(noida: NoidaKafka) -> None:
    config = noida_config(noida, record_max_bytes=600_000)
    sent = [bulky_reading(float(i), 100_000) for i in range(25)]
    batch = make_batch(sent)
    assert len(batch.raw) > 2 * NOIDA_LIMIT

    async with KafkaPipeline(config) as pipeline:
        await pipeline.send(batch)
        assert await asyncio.wait_for(batch.done, DELIVERED_WITHIN_S) is None

    assert len(batch.records) >= 5
    records = consume_records(noida.bootstrap, config.topic, min_records=len(batch.records))
    parts = sorted(records, key=lambda r: int(dict(r.headers())["sluice_part"]))
    values = [r.value for part in parts for r in ReadingBatch.FromString(part.value()).readings]
    assert values == [float(i) for i in range(25)]


@pytest.mark.parametrize(
    ("where", "client"),
    [
        ("refused by librdkafka itself", {}),
        ("refused by the broker", {"message.max.bytes": 20_000_000}),
    ],
)
async def test_a_record_over_the_broker_limit_fails_delivery_for_good(
    noida: NoidaKafka, where: str, client: dict[str, Any]
) -> None:
    config = noida_config(noida, record_max_bytes=8_000_000, client=client)
    batch = make_batch([bulky_reading(1.0, 1_500_000)])

    async with KafkaPipeline(config) as pipeline:
        await pipeline.send(batch)
        with pytest.raises(DeliveryFailed) as failure:
            await asyncio.wait_for(batch.done, DELIVERED_WITHIN_S)

    assert failure.value.reason == reasons.DELIVERY_FAILED, where
    assert "MSG_SIZE_TOO_LARGE" in failure.value.message
    errors = pipeline.sample("sluice_delivery_errors_total", error="MSG_SIZE_TOO_LARGE")
    assert errors == 1
