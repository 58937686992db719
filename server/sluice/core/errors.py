"""Domain errors raised by the pipeline stages.

    SluiceError
    ├── PermanentError          the batch will never succeed as sent: answer REJECTED
    │   └── BatchRejected         a batch-level limit was broken
    ├── DeliveryFailed          Kafka refused the record for good: answer UNAVAILABLE
    └── RetryableError          try again after ``retry_after_ms``
        ├── RateLimited           a token bucket was empty: answer RATE_LIMITED
        └── Unavailable           the batch could not be made durable now: answer UNAVAILABLE

Inner stages raise these (or set them on the batch's completion future) and never touch gRPC.
``sluice.frontdoors.receiver.acks`` is the one place that maps them to Acks and to gRPC
status codes.
"""


class SluiceError(Exception):
    """Base of every error a stage reports about a batch."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class PermanentError(SluiceError):
    """The batch can never succeed as sent."""


class BatchRejected(PermanentError):
    """A batch-level limit (readings per batch, bytes per batch) was broken."""


class DeliveryFailed(SluiceError):
    """Kafka refused a record permanently (too large, unknown topic, not authorised)."""

    def __init__(self, reason: str, message: str, retry_after_ms: int = 1000) -> None:
        super().__init__(reason, message)
        self.retry_after_ms = retry_after_ms


class RetryableError(SluiceError):
    """The batch may succeed if sent again after ``retry_after_ms``."""

    def __init__(self, reason: str, message: str, retry_after_ms: int) -> None:
        super().__init__(reason, message)
        self.retry_after_ms = retry_after_ms


class RateLimited(RetryableError):
    """A tenant or device token bucket was empty under the ``reject`` policy."""


class Unavailable(RetryableError):
    """The batch could not be made durable: Kafka down, overloaded, or draining."""
