"""The unit of work that flows through the pipeline: one client batch and what became of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sluice.v1.ingest_pb2 import ReadingBatch


@dataclass(slots=True, frozen=True)
class ReadingFault:
    """One reading that failed a check: its index in the batch, a reason code and a message."""

    index: int
    reason: str
    message: str


@dataclass(slots=True)
class Record:
    """One Kafka record, ready to produce."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    readings: int
    """How many readings the record carries (0 for a dead-letter record)."""


@dataclass(slots=True, eq=False)
class Batch:
    """One client batch on its way from the receiver to Kafka.

    Ownership passes with each ``consume`` call: the stage that handed a batch on never
    touches it again. Stages fill in the fields below in pipeline order, and the sink
    resolves ``done`` once every record is durable (or sets a ``SluiceError`` on it).
    """

    tenant: str
    raw: bytes
    """The batch exactly as the client sent it, for passthrough."""
    message: ReadingBatch
    received_unix_ns: int
    """Wall-clock receipt time, for ``ce_time``."""
    received_monotonic: float
    """Monotonic receipt time, for the Ack latency histogram."""
    done: asyncio.Future[None]
    traceparent: str = ""
    """The W3C traceparent of the batch's span, copied into the Kafka headers."""
    faults: list[ReadingFault] = field(default_factory=list)
    """Readings that failed their checks, in index order (set by the checker)."""
    changed: bool = False
    """True when a transform rewrote an accepted reading, so the raw bytes are stale."""
    accepted: int = 0
    """How many readings passed the checks (set by the checker)."""
    records: list[Record] = field(default_factory=list)
    """The records to produce, readings records then the dead-letter record (set by the batcher)."""

    @property
    def seq(self) -> int:
        """The client's sequence number for this batch."""
        return self.message.seq
