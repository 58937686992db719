"""Counters an IngestClient keeps about what it sent and what the server answered."""

import dataclasses
from dataclasses import dataclass, field


@dataclass(slots=True)
class ClientStats:
    """What one client has sent and what the server answered so far.

    ``IngestClient.stats`` returns a copy; the counters only grow, except
    ``unacknowledged_batches``, which is the number of batches awaiting a final Ack now.
    """

    batches_sent: int = 0
    """Batches cut and queued on the stream, each seq counted once."""
    batches_acked: int = 0
    """Batches with a final Ack: OK, PARTIAL, REJECTED or a status this SDK does not know."""
    batches_rejected: int = 0
    """Batches answered REJECTED."""
    readings_sent: int = 0
    """Readings in the batches counted by ``batches_sent``."""
    readings_accepted: int = 0
    """Readings the server reported durable (``Ack.accepted``)."""
    readings_rejected: int = 0
    """Readings of OK, PARTIAL or REJECTED batches that were not accepted."""
    resends: int = 0
    """Writes of a batch that had been written before (after RATE_LIMITED, UNAVAILABLE or a
    reconnect)."""
    reconnects: int = 0
    """Streams opened after the first one."""
    rate_limited: int = 0
    """Acks with status RATE_LIMITED."""
    unavailable: int = 0
    """Acks with status UNAVAILABLE."""
    unknown_status: int = 0
    """Acks with an AckStatus value this SDK does not know; they are treated as final."""
    stray_acks: int = 0
    """Acks for a seq that was not awaiting one (ignored)."""
    unacknowledged_batches: int = 0
    """Batches awaiting a final Ack at the time of the copy."""
    rejections_by_reason: dict[str, int] = field(default_factory=dict)
    """Rejected readings by reason code."""

    def copy(self) -> "ClientStats":
        """An independent copy."""
        return dataclasses.replace(self, rejections_by_reason=dict(self.rejections_by_reason))
