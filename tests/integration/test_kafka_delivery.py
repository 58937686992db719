"""Batches through RecordBuilder, DurableSink and a real AsyncProducer into a real Tansu broker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from sluice.core.config.kafka import KafkaConfig
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker
from tests.support.batches import KafkaPipeline, fault, make_batch, reading
from tests.support.brokers import consume_records

pytestmark = pytest.mark.integration

DELIVERED_WITHIN_S = 20.0


def fresh_config(broker: TansuBroker, partitions: int = 4, **overrides: Any) -> KafkaConfig:
    suffix = uuid.uuid4().hex[:8]
    topic, dlq = f"readings-{suffix}", f"dlq-{suffix}"
    create_topics(broker.bootstrap, [topic, dlq], partitions=partitions)
    return KafkaConfig(bootstrap_servers=broker.bootstrap, topic=topic, dlq_topic=dlq, **overrides)


async def test_records_arrive_as_built_with_their_keys_values_and_headers(
    tansu: TansuBroker,
) -> None:
    config = fresh_config(tansu)
    clean = make_batch([reading(value=1.0), reading(value=2.0)], seq=1)
    faulty = make_batch(
        [reading(value=3.0), reading(value=4.0), reading(value=5.0)], seq=2, faults=[fault(1)]
    )

    async with KafkaPipeline(config) as pipeline:
        for batch in (clean, faulty):
            await pipeline.send(batch)
        await asyncio.wait_for(asyncio.gather(clean.done, faulty.done), DELIVERED_WITHIN_S)

    produced = {r.value: r for b in (clean, faulty) for r in b.records if r.readings}
    readings = consume_records(tansu.bootstrap, config.topic, min_records=2)
    assert sorted(r.value() for r in readings) == sorted(produced)
    for consumed in readings:
        built = produced[consumed.value()]
        assert consumed.key() == built.key
        assert consumed.headers() == built.headers
    (dead,) = consume_records(tansu.bootstrap, config.dlq_topic)
    assert dead.value() == faulty.records[-1].value
    assert dead.headers() == faulty.records[-1].headers

    assert pipeline.sample("sluice_records_produced_total", topic=config.topic) == 2
    assert pipeline.sample("sluice_records_produced_total", topic=config.dlq_topic) == 1
    assert pipeline.sample("sluice_produce_latency_seconds_count") == 3
    assert pipeline.sample("sluice_broker_up") == 1


async def test_batches_of_one_key_keep_their_order(tansu: TansuBroker) -> None:
    config = fresh_config(tansu, key="device")
    batches = [
        make_batch([reading("dev-a", float(seq)), reading("dev-b", float(seq))], seq=seq)
        for seq in range(1, 41)
    ]

    async with KafkaPipeline(config) as pipeline:
        for batch in batches:
            await pipeline.send(batch)
        await asyncio.wait_for(asyncio.gather(*(b.done for b in batches)), DELIVERED_WITHIN_S)

    records = consume_records(tansu.bootstrap, config.topic, min_records=80)
    seqs: dict[bytes, list[int]] = {}
    for record in sorted(records, key=lambda r: (r.partition(), r.offset())):
        seqs.setdefault(record.key(), []).append(int(dict(record.headers())["sluice_seq"]))
    assert seqs == {b"dev-a": list(range(1, 41)), b"dev-b": list(range(1, 41))}


async def test_done_waits_while_the_broker_is_frozen_and_resolves_once_it_thaws(
    tansu: TansuBroker,
) -> None:
    config = fresh_config(tansu)
    async with KafkaPipeline(config) as pipeline:
        warm = await pipeline.send(make_batch([reading()], seq=1))
        await asyncio.wait_for(warm.done, DELIVERED_WITHIN_S)
        batch = make_batch([reading(value=7.0)], seq=2)
        tansu.pause()
        try:
            await pipeline.send(batch)
            await asyncio.sleep(1.5)
            assert not batch.done.done()
        finally:
            tansu.resume()
        assert await asyncio.wait_for(batch.done, DELIVERED_WITHIN_S) is None

    records = consume_records(tansu.bootstrap, config.topic, min_records=2)
    assert len(records) == 2


async def test_shutdown_flushes_every_record_already_handed_over(tansu: TansuBroker) -> None:
    config = fresh_config(tansu, linger_ms=500)
    batches = [make_batch([reading(value=float(seq))], seq=seq) for seq in range(1, 6)]

    async with KafkaPipeline(config) as pipeline:
        for batch in batches:
            await pipeline.send(batch)
        assert not any(b.done.done() for b in batches)

    assert [b.done.result() for b in batches] == [None] * 5
    assert len(consume_records(tansu.bootstrap, config.topic, min_records=5)) == 5
