"""The one place that turns a batch's outcome, or an error, into an Ack or a gRPC status."""

from __future__ import annotations

import logging

import grpc

from sluice.core import reasons
from sluice.core.batch import Batch
from sluice.core.errors import (
    BatchRejected,
    DeliveryFailed,
    PermanentError,
    RateLimited,
    RetryableError,
    SluiceError,
)
from sluice.ops.auth import AuthError, Unauthenticated
from sluice.v1.ingest_pb2 import Ack, AckStatus, Rejection

log = logging.getLogger(__name__)

OK = AckStatus.ACK_STATUS_OK
PARTIAL = AckStatus.ACK_STATUS_PARTIAL
REJECTED = AckStatus.ACK_STATUS_REJECTED
RATE_LIMITED = AckStatus.ACK_STATUS_RATE_LIMITED
UNAVAILABLE = AckStatus.ACK_STATUS_UNAVAILABLE

STATUS_NAMES = {
    OK: "OK",
    PARTIAL: "PARTIAL",
    REJECTED: "REJECTED",
    RATE_LIMITED: "RATE_LIMITED",
    UNAVAILABLE: "UNAVAILABLE",
}
FINAL_STATUSES = frozenset({OK, PARTIAL, REJECTED})
"""Statuses a resend of the same batch would get again, so they are remembered for dedup."""

INTERNAL_RETRY_AFTER_MS = 1000


def ack_for_batch(batch: Batch) -> Ack:
    """The Ack of a batch whose accepted readings are durable."""
    ack = Ack(seq=batch.parsed.seq, accepted=batch.accepted)
    faults = batch.faults
    if not faults:
        ack.status = OK
        return ack
    ack.rejections.extend(
        [Rejection(index=f.index, reason=f.reason, message=f.message) for f in faults]
    )
    if batch.accepted:
        ack.status = PARTIAL
    else:
        ack.status = REJECTED
        ack.reason = reasons.NO_VALID_READINGS
    return ack


def ack_for_error(seq: int, error: BaseException) -> Ack:
    """The Ack of a batch that a stage refused, or that could not be made durable."""
    if isinstance(error, BatchRejected | PermanentError):
        return Ack(seq=seq, status=REJECTED, reason=error.reason)
    if isinstance(error, RateLimited):
        return Ack(
            seq=seq, status=RATE_LIMITED, reason=error.reason, retry_after_ms=error.retry_after_ms
        )
    if isinstance(error, RetryableError | DeliveryFailed):
        return Ack(
            seq=seq, status=UNAVAILABLE, reason=error.reason, retry_after_ms=error.retry_after_ms
        )
    if isinstance(error, SluiceError):
        return Ack(seq=seq, status=UNAVAILABLE, reason=error.reason)
    log.error("internal error while handling a batch", exc_info=error, extra={"seq": seq})
    return Ack(
        seq=seq,
        status=UNAVAILABLE,
        reason=reasons.INTERNAL_ERROR,
        retry_after_ms=INTERNAL_RETRY_AFTER_MS,
    )


class StreamError(Exception):
    """An error that ends the whole call with a gRPC status (not a per-batch Ack)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def undecodable(detail: str) -> StreamError:
    """The stream-level error for a message that is not a ReadingBatch."""
    return StreamError(
        grpc.StatusCode.INVALID_ARGUMENT, f"message is not a valid sluice.v1.ReadingBatch: {detail}"
    )


DRAINING = StreamError(grpc.StatusCode.UNAVAILABLE, "draining")


def refused(error: AuthError) -> StreamError:
    """The status of a call whose credentials were refused."""
    if isinstance(error, Unauthenticated):
        return StreamError(grpc.StatusCode.UNAUTHENTICATED, error.message)
    return StreamError(grpc.StatusCode.PERMISSION_DENIED, error.message)


def too_many_streams(limit: int, key: str) -> StreamError:
    """The status of a stream over a stream-count limit; ``key`` names the config key."""
    return StreamError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"too many open streams: the limit is server.{key}={limit}",
    )


def idle_stream(timeout_s: float) -> StreamError:
    """The status of a stream that sent nothing for ``timeout_s`` seconds."""
    return StreamError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        f"idle stream: no message for {timeout_s:g}s (server.idle_stream_timeout_s)",
    )


TOKEN_EXPIRED = StreamError(grpc.StatusCode.UNAUTHENTICATED, "the bearer token has expired")
