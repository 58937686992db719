"""The Kafka sink with its spool against a real broker: outages are spooled and acknowledged,
replayed in order once Kafka is back, and refused only when the spool is full or disabled."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sluice.core import reasons
from sluice.core.batch import Batch
from sluice.core.config.kafka import KafkaConfig
from sluice.core.config.spool import SpoolConfig
from sluice.core.errors import Unavailable
from sluice.delivery.breaker import BreakerState
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker
from tests.support.batches import KafkaPipeline, make_batch, reading
from tests.support.brokers import consume_records

pytestmark = pytest.mark.integration

WITHIN_S = 30.0
BREAKER = {"stall_timeout_ms": 1500, "backoff_initial_ms": 200, "backoff_max_ms": 1000}


def kafka_config(broker: TansuBroker, **overrides: Any) -> KafkaConfig:
    topic = f"readings-{uuid.uuid4().hex[:8]}"
    create_topics(broker.bootstrap, [topic, topic + "-dlq"], partitions=1)
    settings: dict[str, Any] = {
        "bootstrap_servers": broker.bootstrap,
        "topic": topic,
        "dlq_topic": topic + "-dlq",
        "breaker": BREAKER,
    }
    return KafkaConfig(**{**settings, **overrides})


def spool_config(tmp_path: Path, **overrides: Any) -> SpoolConfig:
    return SpoolConfig(**{"dir": tmp_path / "spool", "segment_bytes": 8192, **overrides})


async def eventually(check: Callable[[], bool], timeout_s: float = WITHIN_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def batches(first: int, last: int) -> list[Batch]:
    return [make_batch([reading(value=float(seq))], seq=seq) for seq in range(first, last)]


def seqs(topic_records: list[Any]) -> list[int]:
    ordered = sorted(topic_records, key=lambda r: r.offset())
    return [int(dict(r.headers())["sluice_seq"]) for r in ordered]


async def send_all(pipeline: KafkaPipeline, sent: list[Batch]) -> None:
    for batch in sent:
        await pipeline.send(batch)


async def delivered(pipeline: KafkaPipeline, sent: list[Batch]) -> None:
    """Send ``sent`` and wait for each to be delivered, and for the breaker to be closed."""
    await send_all(pipeline, sent)
    await asyncio.wait_for(asyncio.gather(*(b.done for b in sent)), WITHIN_S)
    await eventually(lambda: pipeline.producer.breaker.state is BreakerState.CLOSED)


async def test_an_outage_is_spooled_acknowledged_and_replayed_in_order(
    tansu: TansuBroker, tmp_path: Path
) -> None:
    config = kafka_config(tansu)
    async with KafkaPipeline(config, spool=spool_config(tmp_path)) as pipeline:
        await delivered(pipeline, batches(0, 20))
        tansu.pause()
        try:
            await send_all(pipeline, in_flight := batches(20, 21))
            await eventually(lambda: pipeline.sample("sluice_broker_up") == 0)
            await send_all(pipeline, during := batches(21, 221))
            # Acknowledged while the broker is frozen: the spool holds them.
            await asyncio.wait_for(asyncio.gather(*(b.done for b in during)), WITHIN_S)
            assert pipeline.sample("sluice_spooled_readings_total") == 200
            assert pipeline.sample("sluice_spool_bytes") > 0  # type: ignore[operator]
            assert pipeline.sink.accepting
        finally:
            tansu.resume()
        await send_all(pipeline, after := batches(221, 260))
        await asyncio.wait_for(asyncio.gather(*(b.done for b in in_flight + after)), WITHIN_S)
        await eventually(lambda: pipeline.sample("sluice_spool_bytes") == 0)
        assert pipeline.sample("sluice_spool_replayed_readings_total") >= 200

    records = consume_records(tansu.bootstrap, config.topic, min_records=260)
    assert seqs(records) == list(range(260))
    assert not list((tmp_path / "spool" / "worker-0").glob("*.seg"))


async def test_records_librdkafka_had_not_sent_are_taken_back_and_keep_their_order(
    tansu: TansuBroker, tmp_path: Path
) -> None:
    # One message per request, one request in flight: most records wait in librdkafka's
    # queue when the broker freezes, and come back from the purge.
    config = kafka_config(
        tansu, client={"batch.num.messages": 1, "max.in.flight.requests.per.connection": 1}
    )
    async with KafkaPipeline(config, spool=spool_config(tmp_path)) as pipeline:
        await delivered(pipeline, batches(0, 1))
        tansu.pause()
        try:
            await send_all(pipeline, queued := batches(1, 101))
            assert pipeline.producer.undelivered > 50  # in librdkafka, not yet sent
            await asyncio.wait_for(
                asyncio.gather(*(b.done for b in queued[5:])), WITHIN_S
            )  # the purge spooled them: acknowledged while the broker is frozen
            await send_all(pipeline, spooled := batches(101, 151))
            await asyncio.wait_for(asyncio.gather(*(b.done for b in spooled)), WITHIN_S)
        finally:
            tansu.resume()
        await asyncio.wait_for(asyncio.gather(*(b.done for b in queued)), WITHIN_S)
        await eventually(lambda: pipeline.sample("sluice_spool_bytes") == 0)

    records = consume_records(tansu.bootstrap, config.topic, min_records=151)
    assert seqs(records) == list(range(151))


async def test_a_full_spool_refuses_and_nothing_refused_is_stored(
    tansu: TansuBroker, tmp_path: Path
) -> None:
    config = kafka_config(tansu, retry_after_ms=777)
    spool = spool_config(tmp_path, max_bytes=16384, segment_bytes=4096)
    async with KafkaPipeline(config, spool=spool) as pipeline:
        await delivered(pipeline, batches(0, 1))
        tansu.pause()
        try:
            await send_all(pipeline, batches(1, 2))  # in flight: delivered, or refused, later
            await eventually(lambda: pipeline.sample("sluice_broker_up") == 0)
            await send_all(pipeline, flood := batches(2, 200))
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(b.done for b in flood), return_exceptions=True), WITHIN_S
            )
            acknowledged = [b.seq for b, o in zip(flood, outcomes, strict=True) if o is None]
            refused = [o for o in outcomes if o is not None]
            assert refused
            assert all(isinstance(o, Unavailable) for o in refused)
            assert {(o.reason, o.retry_after_ms) for o in refused} == {  # type: ignore[union-attr]
                (reasons.KAFKA_UNAVAILABLE, 777)
            }
            assert not pipeline.sink.accepting
        finally:
            tansu.resume()
        await eventually(lambda: pipeline.sample("sluice_spool_bytes") == 0)
        assert pipeline.sink.accepting

    stored = seqs(consume_records(tansu.bootstrap, config.topic, min_records=len(acknowledged)))
    assert [seq for seq in stored if seq > 1] == acknowledged


async def test_without_a_spool_an_open_breaker_refuses_at_once(
    tansu: TansuBroker, tmp_path: Path
) -> None:
    config = kafka_config(tansu)
    async with KafkaPipeline(config, spool=SpoolConfig(enabled=False)) as pipeline:
        await delivered(pipeline, batches(0, 1))
        tansu.pause()
        try:
            await send_all(pipeline, waiting := batches(1, 4))
            await eventually(lambda: pipeline.sample("sluice_broker_up") == 0)
            await send_all(pipeline, refused := batches(4, 5))
            with pytest.raises(Unavailable):
                await asyncio.wait_for(refused[0].done, 1.0)
            assert not pipeline.sink.accepting
            assert not any(b.done.done() for b in waiting)  # in librdkafka: they wait
        finally:
            tansu.resume()
        await asyncio.wait_for(asyncio.gather(*(b.done for b in waiting)), WITHIN_S)

    records = consume_records(tansu.bootstrap, config.topic, min_records=4)
    assert seqs(records) == [0, 1, 2, 3]


async def test_a_shutdown_leaves_the_spool_for_the_next_start_which_replays_it(
    tansu: TansuBroker, tmp_path: Path
) -> None:
    config = kafka_config(tansu, delivery_timeout_ms=3000)
    spool = spool_config(tmp_path)
    async with KafkaPipeline(config, spool=spool) as first:
        await delivered(first, batches(0, 1))
        tansu.pause()
        try:
            await send_all(first, batches(1, 2))  # in flight
            await eventually(lambda: first.sample("sluice_broker_up") == 0)
            await send_all(first, kept := batches(2, 40))
            await asyncio.wait_for(asyncio.gather(*(b.done for b in kept)), WITHIN_S)
            await first.sink.shutdown()  # Kafka unreachable: the spool stays on disk
        finally:
            tansu.resume()
    assert list((tmp_path / "spool" / "worker-0").glob("*.seg"))

    async with KafkaPipeline(config, spool=spool) as second:
        await eventually(lambda: second.sample("sluice_spool_bytes") == 0)
        assert second.sample("sluice_spool_replayed_readings_total") >= 38

    records = consume_records(tansu.bootstrap, config.topic, min_records=39)
    assert set(seqs(records)) >= {0, *range(2, 40)}


async def test_a_shutdown_with_kafka_back_replays_the_spool_first(
    tansu: TansuBroker, tmp_path: Path
) -> None:
    config = kafka_config(tansu)
    async with KafkaPipeline(config, spool=spool_config(tmp_path)) as pipeline:
        await delivered(pipeline, batches(0, 1))
        tansu.pause()
        try:
            await send_all(pipeline, in_flight := batches(1, 2))
            await eventually(lambda: pipeline.sample("sluice_broker_up") == 0)
            await send_all(pipeline, spooled := batches(2, 60))
            await asyncio.wait_for(asyncio.gather(*(b.done for b in spooled)), WITHIN_S)
        finally:
            tansu.resume()
        await pipeline.sink.shutdown()  # at once: the drain waits for the replay
        assert in_flight[0].done.done()

    assert not list((tmp_path / "spool" / "worker-0").glob("*.seg"))
    records = consume_records(tansu.bootstrap, config.topic, min_records=60)
    assert seqs(records) == list(range(60))
