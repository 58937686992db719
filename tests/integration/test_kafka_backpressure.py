"""librdkafka's full local queue is backpressure: the sink waits, and nothing is lost."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from sluice.core.config.kafka import KafkaConfig
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker
from tests.support.batches import KafkaPipeline, make_batch, reading
from tests.support.brokers import consume_records

pytestmark = pytest.mark.integration

QUEUE = 4
DELIVERED_WITHIN_S = 30.0


def tiny_queue_config(broker: TansuBroker, **overrides: Any) -> KafkaConfig:
    topic = f"readings-{uuid.uuid4().hex[:8]}"
    create_topics(broker.bootstrap, [topic], partitions=1)
    return KafkaConfig(
        bootstrap_servers=broker.bootstrap,
        topic=topic,
        queue_max_messages=QUEUE,
        **overrides,
    )


def seqs_in_order(records: list[Any]) -> list[int]:
    ordered = sorted(records, key=lambda r: r.offset())
    return [int(dict(r.headers())["sluice_seq"]) for r in ordered]


async def test_a_burst_far_beyond_the_queue_is_delivered_whole_and_in_order(
    tansu: TansuBroker,
) -> None:
    config = tiny_queue_config(tansu)
    batches = [make_batch([reading(value=float(seq))], seq=seq) for seq in range(1, 301)]

    async with KafkaPipeline(config) as pipeline:
        senders = [asyncio.create_task(pipeline.send(b)) for b in batches]
        await asyncio.wait_for(asyncio.gather(*senders), DELIVERED_WITHIN_S)
        results = await asyncio.wait_for(
            asyncio.gather(*(b.done for b in batches), return_exceptions=True),
            DELIVERED_WITHIN_S,
        )

    assert results == [None] * 300
    records = consume_records(tansu.bootstrap, config.topic, min_records=300)
    assert seqs_in_order(records) == list(range(1, 301))
    assert pipeline.sample("sluice_delivery_errors_total", error="_QUEUE_FULL") is None


async def test_the_sink_stops_taking_batches_while_the_queue_is_full(tansu: TansuBroker) -> None:
    config = tiny_queue_config(tansu)
    batches = [make_batch([reading(value=float(seq))], seq=seq) for seq in range(1, 11)]

    async with KafkaPipeline(config) as pipeline:
        warm = await pipeline.send(make_batch([reading()], seq=0))
        await asyncio.wait_for(warm.done, DELIVERED_WITHIN_S)
        tansu.pause()
        try:
            senders = [asyncio.create_task(pipeline.send(b)) for b in batches]
            await asyncio.sleep(1.0)
            taken = sum(sender.done() for sender in senders)
            assert taken == QUEUE
            assert not any(b.done.done() for b in batches)
        finally:
            tansu.resume()
        await asyncio.wait_for(asyncio.gather(*senders), DELIVERED_WITHIN_S)
        results = await asyncio.wait_for(
            asyncio.gather(*(b.done for b in batches), return_exceptions=True),
            DELIVERED_WITHIN_S,
        )

    assert results == [None] * 10
    records = consume_records(tansu.bootstrap, config.topic, min_records=11)
    assert seqs_in_order(records) == list(range(11))
