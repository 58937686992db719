"""What an Ack means to the client: final or "resend later", and the counters it moves."""

import logging
from collections.abc import Callable

from sluice.v1.ingest_pb2 import (
    ACK_STATUS_OK,
    ACK_STATUS_PARTIAL,
    ACK_STATUS_RATE_LIMITED,
    ACK_STATUS_REJECTED,
    ACK_STATUS_UNAVAILABLE,
    Ack,
    Reading,
    ReadingBatch,
    Rejection,
)
from sluice_client.stats import ClientStats

logger = logging.getLogger("sluice_client")

RejectionCallback = Callable[[int, Rejection, Reading | None], None]
"""Called as ``on_rejection(seq, rejection, reading)`` for every reading not accepted."""

RETRY_STATUSES = frozenset({ACK_STATUS_RATE_LIMITED, ACK_STATUS_UNAVAILABLE})
"""Not durable: resend the same batch, same seq, after ``retry_after_ms``."""
KNOWN_FINAL_STATUSES = frozenset({ACK_STATUS_OK, ACK_STATUS_PARTIAL, ACK_STATUS_REJECTED})


def is_retry(ack: Ack) -> bool:
    """True when ``ack`` says the batch is not durable and must be resent."""
    return ack.status in RETRY_STATUSES


def count_retry(ack: Ack, stats: ClientStats) -> None:
    """Counts a RATE_LIMITED or UNAVAILABLE Ack."""
    if ack.status == ACK_STATUS_RATE_LIMITED:
        stats.rate_limited += 1
    else:
        stats.unavailable += 1


def record_final(
    ack: Ack,
    batch: ReadingBatch,
    stats: ClientStats,
    on_rejection: RejectionCallback | None,
) -> None:
    """Counts a final Ack for ``batch`` and reports each reading it did not accept.

    A REJECTED Ack without per-reading rejections (a batch-level limit) reports every reading
    of the batch with the Ack's ``reason``. A status this SDK does not know is counted and
    logged, and taken as final.
    """
    stats.batches_acked += 1
    stats.readings_accepted += ack.accepted
    status = ack.status
    if status not in KNOWN_FINAL_STATUSES:
        stats.unknown_status += 1
        logger.warning(
            "Ack for seq %d has an unknown status %d; taking it as final", ack.seq, status
        )
        return
    if status == ACK_STATUS_OK:
        return
    readings = batch.readings
    rejections = list(ack.rejections)
    if status == ACK_STATUS_REJECTED:
        stats.batches_rejected += 1
        if not rejections:
            message = f"batch rejected: {ack.reason}"
            rejections = [
                Rejection(index=i, reason=ack.reason, message=message) for i in range(len(readings))
            ]
    stats.readings_rejected += max(len(readings) - ack.accepted, 0)
    by_reason = stats.rejections_by_reason
    for rejection in rejections:
        by_reason[rejection.reason] = by_reason.get(rejection.reason, 0) + 1
        if on_rejection is not None:
            index = rejection.index
            reading = readings[index] if index < len(readings) else None
            _report(on_rejection, ack.seq, rejection, reading)


def _report(
    on_rejection: RejectionCallback, seq: int, rejection: Rejection, reading: Reading | None
) -> None:
    try:
        on_rejection(seq, rejection, reading)
    except Exception:
        # A faulty callback must not stop the stream's Ack reader.
        logger.exception("on_rejection callback failed for seq %d", seq)
