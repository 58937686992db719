"""The producer through broker outages: restarts, the circuit breaker without a spool, and
queues that stay full too long."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest

from sluice.core import reasons
from sluice.core.config.kafka import KafkaConfig
from sluice.core.errors import Unavailable
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker
from tests.support.batches import KafkaPipeline, make_batch, reading
from tests.support.brokers import consume_records

pytestmark = pytest.mark.integration

DELIVERED_WITHIN_S = 30.0


async def eventually(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_after_a_broker_restart_the_producer_is_replaced_and_nothing_is_lost() -> None:
    topic = f"readings-{uuid.uuid4().hex[:8]}"
    broker = TansuBroker().start()
    restarted = TansuBroker(port=broker.port)
    try:
        create_topics(broker.bootstrap, [topic])
        config = KafkaConfig(bootstrap_servers=broker.bootstrap, topic=topic)
        async with KafkaPipeline(config) as pipeline:
            before = await pipeline.send(make_batch([reading(value=1.0)], seq=1))
            await asyncio.wait_for(before.done, DELIVERED_WITHIN_S)

            broker.stop()
            # Sent before the event loop runs again, so before it hears that every broker is
            # down: librdkafka takes the record, and holds it through the restart.
            during = await pipeline.send(make_batch([reading(value=2.0)], seq=2))
            await eventually(lambda: pipeline.sample("sluice_broker_up") == 0)
            # The breaker is open and there is no spool: refused at once, never queued.
            refused = await pipeline.send(make_batch([reading(value=9.0)], seq=9))
            with pytest.raises(Unavailable):
                await asyncio.wait_for(refused.done, 1.0)
            restarted.start()
            create_topics(restarted.bootstrap, [topic])

            assert await asyncio.wait_for(during.done, DELIVERED_WITHIN_S) is None
            await eventually(lambda: pipeline.sample("sluice_broker_up") == 1)
            after = await pipeline.send(make_batch([reading(value=3.0)], seq=3))
            assert await asyncio.wait_for(after.done, DELIVERED_WITHIN_S) is None

            recreated = pipeline.sample("sluice_producer_recreated_total")
            assert recreated is not None
            assert recreated >= 1
            assert pipeline.sample("sluice_broker_up") == 1

        records = consume_records(restarted.bootstrap, topic, min_records=2)
        assert sorted(int(dict(r.headers())["sluice_seq"]) for r in records) == [2, 3]
    finally:
        broker.stop()
        restarted.stop()


async def test_a_queue_that_stays_full_past_the_delivery_timeout_answers_unavailable(
    tansu: TansuBroker,
) -> None:
    topic = f"readings-{uuid.uuid4().hex[:8]}"
    create_topics(tansu.bootstrap, [topic])
    config = KafkaConfig(
        bootstrap_servers=tansu.bootstrap,
        topic=topic,
        queue_max_messages=1,
        delivery_timeout_ms=1500,
        retry_after_ms=2500,
    )
    async with KafkaPipeline(config) as pipeline:
        warm = await pipeline.send(make_batch([reading()], seq=0))
        await asyncio.wait_for(warm.done, DELIVERED_WITHIN_S)
        tansu.pause()
        try:
            queued = await pipeline.send(make_batch([reading()], seq=1))
            blocked = await pipeline.send(make_batch([reading()], seq=2))
            outcomes = await asyncio.wait_for(
                asyncio.gather(queued.done, blocked.done, return_exceptions=True),
                DELIVERED_WITHIN_S,
            )
        finally:
            tansu.resume()

    for outcome in outcomes:
        assert isinstance(outcome, Unavailable)
        assert (outcome.reason, outcome.retry_after_ms) == (reasons.KAFKA_UNAVAILABLE, 2500)
    assert "_MSG_TIMED_OUT" in outcomes[0].message
    assert pipeline.sample("sluice_delivery_errors_total", error="_MSG_TIMED_OUT") == 1
    assert pipeline.sample("sluice_delivery_errors_total", error="_QUEUE_FULL") == 1
