"""DurableSink: records handed over in order, and ``batch.done`` settled by their deliveries."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from sluice.core import reasons
from sluice.core.batch import HANDED_ON, Batch, Record
from sluice.core.config.kafka import BreakerConfig, KafkaConfig
from sluice.core.errors import DeliveryFailed, SluiceError, Unavailable
from sluice.delivery.breaker import CircuitBreaker
from sluice.delivery.sink import DurableSink
from sluice.ops.metrics import Metrics
from sluice.stages.batcher import RecordBuilder
from tests.support.batches import fault, make_batch, reading

CONFIG = KafkaConfig(topic="readings", dlq_topic="dead", key="device")
UNAVAILABLE = Unavailable(reasons.KAFKA_UNAVAILABLE, "broker gone", 1000)
TOO_LARGE = DeliveryFailed(reasons.DELIVERY_FAILED, "MSG_SIZE_TOO_LARGE")


class ScriptedProducer:
    """Takes records like AsyncProducer; the test settles each record's delivery."""

    retry_after_ms = 1000

    def __init__(
        self, refuse_topic: str = "", refusal: SluiceError = UNAVAILABLE, full: bool = False
    ) -> None:
        self.breaker = CircuitBreaker(BreakerConfig())
        self.produced: list[tuple[Record, asyncio.Future[None]]] = []
        self.calls: list[str] = []
        self._refuse_topic = refuse_topic
        self._refusal = refusal
        self.full = full
        """While true, ``try_produce`` finds no room and ``produce`` waits for ``room``."""
        self.room = asyncio.Event()

    async def start(self) -> None:
        self.calls.append("start")

    async def shutdown(self) -> None:
        self.calls.append("shutdown")

    async def produce(
        self, record: Record, future: asyncio.Future[None] | None = None
    ) -> asyncio.Future[None]:
        if self.full:
            self.calls.append("waiting for room")
            await self.room.wait()
        return self._take(record, future)

    def try_produce(
        self, record: Record, future: asyncio.Future[None] | None = None
    ) -> asyncio.Future[None] | None:
        return None if self.full else self._take(record, future)

    def _take(self, record: Record, future: asyncio.Future[None] | None) -> asyncio.Future[None]:
        if record.topic == self._refuse_topic:
            raise self._refusal
        settled = asyncio.get_running_loop().create_future() if future is None else future
        self.produced.append((record, settled))
        return settled

    def deliver(self, index: int, error: SluiceError | None = None) -> None:
        future = self.produced[index][1]
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


async def send(
    producer: ScriptedProducer, batch: Batch, allow_dlq: bool = True
) -> ScriptedProducer:
    metrics = Metrics(CollectorRegistry())
    sink = DurableSink(CONFIG, metrics, producer=lambda *_: producer)  # type: ignore[arg-type,return-value]
    await RecordBuilder(CONFIG, lambda _: allow_dlq, sink).consume(batch)
    return producer


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def three_devices(faults: tuple[int, ...] = ()) -> Batch:
    readings = [reading(device) for device in ("a", "b", "c", "a")]
    return make_batch(readings, faults=[fault(i) for i in faults])


async def test_every_record_is_produced_in_order_readings_then_the_dead_letter() -> None:
    producer = await send(ScriptedProducer(), three_devices(faults=(3,)))

    assert [(r.topic, r.key) for r, _ in producer.produced] == [
        ("readings", b"a"),
        ("readings", b"b"),
        ("readings", b"c"),
        ("dead", b"gw-1"),
    ]


async def test_done_resolves_only_once_every_readings_record_is_delivered() -> None:
    batch = three_devices()
    producer = await send(ScriptedProducer(), batch)

    producer.deliver(0)
    producer.deliver(2)
    await settle()
    assert not batch.done.done()

    producer.deliver(1)
    await settle()
    assert batch.done.result() is None


async def test_a_single_record_batch_resolves_with_its_delivery() -> None:
    batch = make_batch([reading()])
    producer = await send(ScriptedProducer(), batch)
    await settle()
    assert not batch.done.done()

    producer.deliver(0)
    await settle()

    assert batch.done.result() is None


@pytest.mark.parametrize("error", [UNAVAILABLE, TOO_LARGE])
async def test_the_first_failed_readings_record_fails_the_batch(error: SluiceError) -> None:
    batch = three_devices()
    producer = await send(ScriptedProducer(), batch)

    producer.deliver(1, error)
    await settle()

    assert batch.done.exception() is error
    producer.deliver(0)
    producer.deliver(2, UNAVAILABLE if error is TOO_LARGE else TOO_LARGE)
    await settle()
    assert batch.done.exception() is error


async def test_a_lost_dead_letter_is_logged_and_does_not_fail_the_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    batch = make_batch([reading(), reading()], faults=[fault(1)])
    producer = await send(ScriptedProducer(), batch)

    with caplog.at_level(logging.WARNING, logger="sluice.delivery"):
        producer.deliver(1, UNAVAILABLE)
        producer.deliver(0)
        await settle()

    assert batch.done.result() is None
    assert "dead-letter record not delivered" in caplog.text


async def test_a_dead_letter_the_producer_refuses_does_not_fail_the_batch() -> None:
    batch = make_batch([reading(), reading()], faults=[fault(0)])
    producer = await send(ScriptedProducer(refuse_topic="dead"), batch)

    producer.deliver(0)
    await settle()

    assert batch.done.result() is None


async def test_a_batch_with_only_a_dead_letter_is_done_once_it_is_delivered() -> None:
    batch = make_batch([reading(), reading()], faults=[fault(0), fault(1)])
    producer = await send(ScriptedProducer(), batch)

    assert [r.topic for r, _ in producer.produced] == ["dead"]
    assert not batch.done.done(), "the Ack waits for the dead letter to be in the DLQ"
    producer.deliver(0)
    await settle()
    assert batch.done.result() is None


async def test_a_record_the_producer_refuses_fails_the_batch_and_stops_the_rest() -> None:
    batch = make_batch([reading(), reading()], faults=[fault(1)])
    producer = await send(ScriptedProducer(refuse_topic="readings", refusal=TOO_LARGE), batch)

    assert batch.done.exception() is TOO_LARGE
    assert producer.produced == []


async def test_start_and_shutdown_are_the_producers() -> None:
    producer = ScriptedProducer()
    sink = DurableSink(CONFIG, Metrics(CollectorRegistry()), producer=lambda *_: producer)  # type: ignore[arg-type,return-value]

    await sink.start()
    await sink.shutdown()

    assert producer.calls == ["start", "shutdown"]


@pytest.mark.parametrize("several", [False, True], ids=["one record", "several and a dead letter"])
async def test_a_full_producer_queue_pushes_back_until_there_is_room(several: bool) -> None:
    batch = three_devices(faults=(3,)) if several else make_batch([reading()])
    producer = ScriptedProducer(full=True)
    sink = DurableSink(CONFIG, Metrics(CollectorRegistry()), producer=lambda *_: producer)  # type: ignore[arg-type,return-value]
    builder = RecordBuilder(CONFIG, lambda _: True, sink)

    pushing_back = builder.consume(batch)
    assert pushing_back is not HANDED_ON
    waiting = asyncio.ensure_future(pushing_back)
    await settle()
    assert producer.produced == []
    assert not waiting.done()

    producer.full = False
    producer.room.set()
    await waiting
    for index in range(len(producer.produced)):
        producer.deliver(index)
    await settle()

    assert [r.key for r, _ in producer.produced] == [r.key for r in batch.records]
    assert batch.done.result() is None


async def test_a_producer_with_room_takes_the_batch_at_once() -> None:
    batch = three_devices(faults=(3,))
    producer = ScriptedProducer()
    sink = DurableSink(CONFIG, Metrics(CollectorRegistry()), producer=lambda *_: producer)  # type: ignore[arg-type,return-value]

    handed = RecordBuilder(CONFIG, lambda _: True, sink).consume(batch)

    assert handed is HANDED_ON
    assert len(producer.produced) == 4
