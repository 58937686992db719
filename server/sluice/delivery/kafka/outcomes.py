"""What a librdkafka error means for a batch: final, retryable, or a broken producer.

Like Vector's Kafka sink, a fixed list of errors is final: the record will never be accepted
as sent (too large, invalid, unknown topic, not authorised). Everything else (timeouts,
transport errors, a purged queue) may succeed later and is answered UNAVAILABLE.
"""

from __future__ import annotations

from typing import Final

from confluent_kafka import KafkaError

from sluice.core import reasons
from sluice.core.errors import DeliveryFailed, SluiceError, Unavailable

FINAL_ERRORS: Final = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_REQUIRED_ACKS,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._INVALID_ARG,
    }
)
"""Delivery errors that resending the same record cannot fix."""

PRODUCER_FATAL_ERRORS: Final = frozenset(
    {
        KafkaError._FATAL,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError._GAPLESS_GUARANTEE,
        KafkaError.PRODUCER_FENCED,
    }
)
"""Idempotent-producer errors after which the producer instance must be replaced.

PRODUCER_FENCED: an idempotent producer is only ever fenced by a broker that refused the
epoch bump librdkafka makes after records were purged from its queue (Tansu does)."""

PURGED_UNSENT: Final = KafkaError._PURGE_QUEUE
"""The delivery report of a record purged from librdkafka's queue: it was never sent."""

QUEUE_FULL_ERROR: Final = "_QUEUE_FULL"
"""The ``delivery_errors`` label of a record refused because the local queue stayed full."""


class NotQueued(Unavailable):
    """librdkafka never took the record: the producer was told to give records back (the
    circuit breaker opened) while this one waited for room in its queue."""


def refusal(error: KafkaError, topic: str, retry_after_ms: int) -> SluiceError:
    """The domain error for a record to ``topic`` that Kafka (or librdkafka) refused."""
    text = f"Kafka did not take a record for {topic}: {error.name()}: {error.str()}"
    if error.code() in FINAL_ERRORS:
        return DeliveryFailed(reasons.DELIVERY_FAILED, text, retry_after_ms)
    return Unavailable(reasons.KAFKA_UNAVAILABLE, text, retry_after_ms)


def is_producer_fatal(error: KafkaError) -> bool:
    """True when ``error`` leaves the idempotent producer unusable."""
    return bool(error.fatal()) or error.code() in PRODUCER_FATAL_ERRORS
