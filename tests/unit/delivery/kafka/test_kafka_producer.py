"""AsyncProducer without a reachable broker: lifecycle, timeouts and a bounded shutdown."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from sluice.core import reasons
from sluice.core.batch import Record
from sluice.core.config.kafka import KafkaConfig
from sluice.core.errors import Unavailable
from sluice.core.netutil import free_port
from sluice.delivery.breaker import CircuitBreaker
from sluice.delivery.kafka.producer import AsyncProducer
from sluice.ops.metrics import Metrics


def nowhere(**overrides: object) -> KafkaConfig:
    """A config pointing at a loopback port nothing listens on."""
    return KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}", **overrides)  # type: ignore[arg-type]


def setup(config: KafkaConfig, metrics: Metrics) -> tuple[KafkaConfig, Metrics, CircuitBreaker]:
    """A producer's arguments: its config, its metrics and the breaker it is given."""
    return config, metrics, CircuitBreaker(config.breaker)


def record(value: bytes = b"v") -> Record:
    return Record("readings", b"k", value, [("ce_specversion", b"1.0")], 1)


async def test_produce_before_start_and_after_shutdown_is_unavailable() -> None:
    metrics = Metrics(CollectorRegistry())
    producer = AsyncProducer(*setup(nowhere(), metrics))

    with pytest.raises(Unavailable):
        await producer.produce(record())
    await producer.start()
    await producer.shutdown()
    with pytest.raises(Unavailable) as refused:
        await producer.produce(record())

    assert refused.value.reason == reasons.KAFKA_UNAVAILABLE


async def test_shutdown_is_idempotent_and_safe_without_start() -> None:
    never_started = AsyncProducer(*setup(nowhere(), Metrics(CollectorRegistry())))
    await never_started.shutdown()
    await never_started.shutdown()

    started = AsyncProducer(*setup(nowhere(), Metrics(CollectorRegistry())))
    await started.start()
    await asyncio.gather(started.shutdown(), started.shutdown())
    await started.shutdown()


async def test_a_record_nobody_takes_fails_as_unavailable_after_the_delivery_timeout() -> None:
    registry = CollectorRegistry()
    producer = AsyncProducer(
        *setup(nowhere(delivery_timeout_ms=800, retry_after_ms=1234), Metrics(registry))
    )
    await producer.start()
    try:
        delivery = await producer.produce(record())
        with pytest.raises(Unavailable) as failure:
            await asyncio.wait_for(delivery, 20)
    finally:
        await producer.shutdown()

    assert (failure.value.reason, failure.value.retry_after_ms) == (reasons.KAFKA_UNAVAILABLE, 1234)
    assert (
        registry.get_sample_value("sluice_delivery_errors_total", {"error": "_MSG_TIMED_OUT"}) == 1
    )
    assert registry.get_sample_value("sluice_broker_up") == 0


async def test_shutdown_leaves_no_record_unsettled() -> None:
    producer = AsyncProducer(
        *setup(nowhere(delivery_timeout_ms=1500), Metrics(CollectorRegistry()))
    )
    await producer.start()
    deliveries = [await producer.produce(record(bytes([i]))) for i in range(5)]
    assert producer.undelivered == 5

    await producer.shutdown()

    assert all(delivery.done() for delivery in deliveries)
    assert all(isinstance(delivery.exception(), Unavailable) for delivery in deliveries)
    assert producer.undelivered == 0
