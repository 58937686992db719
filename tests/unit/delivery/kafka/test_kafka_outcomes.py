"""Which librdkafka errors are final, which are retryable, and which break the producer."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from sluice.core import reasons
from sluice.core.errors import DeliveryFailed, Unavailable
from sluice.delivery.kafka.outcomes import is_producer_fatal, refusal


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (KafkaError.MSG_SIZE_TOO_LARGE, DeliveryFailed),
        (KafkaError.RECORD_LIST_TOO_LARGE, DeliveryFailed),
        (KafkaError.INVALID_RECORD, DeliveryFailed),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, DeliveryFailed),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, DeliveryFailed),
        (KafkaError._UNKNOWN_TOPIC, DeliveryFailed),
        (KafkaError.INVALID_REQUIRED_ACKS, DeliveryFailed),
        (KafkaError._MSG_TIMED_OUT, Unavailable),
        (KafkaError._TRANSPORT, Unavailable),
        (KafkaError._ALL_BROKERS_DOWN, Unavailable),
        (KafkaError._PURGE_QUEUE, Unavailable),
        (KafkaError.NOT_ENOUGH_REPLICAS, Unavailable),
        (KafkaError.REQUEST_TIMED_OUT, Unavailable),
    ],
)
def test_final_errors_fail_delivery_and_the_rest_are_retryable(
    code: int, expected: type[Exception]
) -> None:
    error = refusal(KafkaError(code), "readings", retry_after_ms=1500)

    assert type(error) is expected
    assert error.retry_after_ms == 1500  # type: ignore[attr-defined]
    wanted = reasons.DELIVERY_FAILED if expected is DeliveryFailed else reasons.KAFKA_UNAVAILABLE
    assert error.reason == wanted
    assert KafkaError(code).name() in error.message
    assert "readings" in error.message


@pytest.mark.parametrize(
    ("error", "fatal"),
    [
        (KafkaError(KafkaError._FATAL), True),
        (KafkaError(KafkaError.UNKNOWN_PRODUCER_ID), True),
        (KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER), True),
        (KafkaError(KafkaError.INVALID_PRODUCER_EPOCH, fatal=True), True),
        (KafkaError(KafkaError._MSG_TIMED_OUT), False),
        (KafkaError(KafkaError._TRANSPORT), False),
    ],
)
def test_fatal_idempotence_errors_break_the_producer(error: KafkaError, fatal: bool) -> None:
    assert is_producer_fatal(error) is fatal
