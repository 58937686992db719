"""Config of the Kafka connection, the producer and its circuit breaker (section ``kafka``)."""

from typing import Annotated, Final, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sluice.core.config.base import ComponentConfig
from sluice.core.config.librdkafka import INT_MAX, ClientValue, check_each, refusal
from sluice.core.record_contract import DEFAULT_DLQ_TOPIC, DEFAULT_TOPIC

DEFAULT_RECORD_MAX_BYTES = 900_000
DEFAULT_RETRY_AFTER_MS = 1_000
LOCKED_PROPERTIES = frozenset({"acks", "enable.idempotence", "request.required.acks"})
DEFAULT_STALL_TIMEOUT_MS = 5_000
DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_BACKOFF_INITIAL_MS = 500
DEFAULT_BACKOFF_MAX_MS = 30_000
DEFAULT_PROBE_TIMEOUT_MS = 1_000
PRODUCER_PROPERTIES: Final = {
    "linger_ms": "linger.ms",
    "compression": "compression.type",
    "delivery_timeout_ms": "message.timeout.ms",
    "queue_max_messages": "queue.buffering.max.messages",
    "queue_max_kbytes": "queue.buffering.max.kbytes",
}
"""The librdkafka producer property each ``kafka`` key sets."""
FIXED_PRODUCER_PROPERTIES: Final = {
    "enable.idempotence": True,
    "acks": "all",
    "partitioner": "murmur2_random",
}


class BreakerConfig(ComponentConfig):
    """When Sluice stops sending batches to Kafka, and how it tries again."""

    stall_timeout_ms: Annotated[int, Field(gt=0)] = DEFAULT_STALL_TIMEOUT_MS
    """Open when records wait this long with no delivery report at all."""
    failure_threshold: Annotated[int, Field(gt=0)] = DEFAULT_FAILURE_THRESHOLD
    """Open after this many retryable delivery failures in a row (timeouts, transport)."""
    backoff_initial_ms: Annotated[int, Field(gt=0)] = DEFAULT_BACKOFF_INITIAL_MS
    """First wait before probing an open breaker; it doubles per failed probe, with jitter."""
    backoff_max_ms: Annotated[int, Field(gt=0)] = DEFAULT_BACKOFF_MAX_MS
    """Longest wait between probes of an open breaker."""
    probe_timeout_ms: Annotated[int, Field(gt=0)] = DEFAULT_PROBE_TIMEOUT_MS
    """How long a probe (a metadata request for the readings topic) may take to succeed."""

    @model_validator(mode="after")
    def _backoff_in_order(self) -> "BreakerConfig":
        if self.backoff_max_ms < self.backoff_initial_ms:
            raise ValueError("backoff_max_ms must not be below backoff_initial_ms")
        return self


class KafkaConfig(ComponentConfig):
    """Where and how records are produced."""

    bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated host:port list of Kafka brokers."""
    topic: str = DEFAULT_TOPIC
    """Topic of the readings records."""
    dlq_topic: str = DEFAULT_DLQ_TOPIC
    """Topic of the dead-letter records (RejectedBatch)."""
    key: Literal["source", "device"] = "source"
    """Record key: the batch's source_id, or the device_id with one record part per device."""
    encoding: Literal["protobuf", "json"] = "protobuf"
    """Record value: ReadingBatch protobuf, or its JSON with proto field names."""
    record_max_bytes: Annotated[int, Field(gt=1024)] = DEFAULT_RECORD_MAX_BYTES
    """Larger batches are split into parts no larger than this (Kafka refuses ~1 MB)."""
    linger_ms: Annotated[float, Field(ge=0)] = 5.0
    """librdkafka's linger.ms: how long records wait to be batched into one request."""
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    """librdkafka's compression.type for produce requests."""
    delivery_timeout_ms: Annotated[int, Field(gt=0, le=INT_MAX)] = 30_000
    """librdkafka's message.timeout.ms: how long a record may take to be delivered."""
    queue_max_messages: Annotated[int, Field(gt=0, le=INT_MAX)] = 100_000
    """librdkafka's queue.buffering.max.messages; a full queue is backpressure."""
    queue_max_kbytes: Annotated[int, Field(gt=0, le=INT_MAX)] = 256 * 1024
    """librdkafka's queue.buffering.max.kbytes; a full queue is backpressure."""
    retry_after_ms: Annotated[int, Field(gt=0)] = DEFAULT_RETRY_AFTER_MS
    """How long a client told UNAVAILABLE because of Kafka is asked to wait before resending."""
    breaker: BreakerConfig = BreakerConfig()
    """The circuit breaker towards Kafka."""
    client: dict[str, ClientValue] = Field(default_factory=dict)
    """Any librdkafka property (TLS, SASL, ...), passed through. acks and idempotence are fixed."""

    @field_validator("client")
    @classmethod
    def _refuse_locked(cls, value: dict[str, ClientValue]) -> dict[str, ClientValue]:
        locked = sorted(LOCKED_PROPERTIES.intersection(value))
        if locked:
            raise ValueError(
                f"{', '.join(locked)} cannot be overridden: Sluice always produces with "
                "acks=all and enable.idempotence=true"
            )
        return value

    @field_validator("client")
    @classmethod
    def _librdkafka_takes_each(cls, value: dict[str, ClientValue]) -> dict[str, ClientValue]:
        return check_each(value)

    @field_validator(*PRODUCER_PROPERTIES)
    @classmethod
    def _librdkafka_takes(cls, value: object, info: ValidationInfo) -> object:
        name = PRODUCER_PROPERTIES[str(info.field_name)]
        reason = refusal({name: value})
        if reason is not None:
            raise ValueError(f"librdkafka refuses it as {name}: {reason}")
        return value

    @model_validator(mode="after")
    def _librdkafka_takes_them_together(self) -> "KafkaConfig":
        reason = refusal(self.producer_properties())
        if reason is not None:
            for key, name in PRODUCER_PROPERTIES.items():  # librdkafka names its properties
                reason = reason.replace(f"`{name}`", f"`{name}` (kafka.{key})")
            raise ValueError(f"librdkafka refuses these settings together: {reason}")
        return self

    def producer_properties(self) -> dict[str, ClientValue]:
        """The producer's librdkafka properties: acks=all and idempotence always, the keys
        above, and the ``client`` pass-through (its delivery callbacks are added by the
        delivery layer)."""
        return {
            "bootstrap.servers": self.bootstrap_servers,
            **FIXED_PRODUCER_PROPERTIES,
            **{name: getattr(self, key) for key, name in PRODUCER_PROPERTIES.items()},
            **self.client,
        }
