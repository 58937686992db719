"""The unit of work that flows through the pipeline: one client batch and what became of it."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Final

from sluice.core._wire import WireBatch
from sluice.v1.ingest_pb2 import Reading, ReadingBatch


def reading_count(parsed: WireBatch | ReadingBatch) -> int:
    """How many readings a walked or parsed batch holds."""
    return parsed.count if isinstance(parsed, WireBatch) else len(parsed.readings)


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
    parsed: WireBatch | ReadingBatch
    """The batch as admitted: walked in C (the plain encoding, the fast path), or parsed by
    upb (anything else), in which case the checks transform its readings in place."""
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
    """True when a transform rewrote an accepted reading (set by the checker)."""
    accepted: int = 0
    """How many readings passed the checks (set by the checker)."""
    value: bytes | None = None
    """The accepted readings, transformed, as a ReadingBatch; None while that is ``raw``
    itself (set by the checker)."""
    records: list[Record] = field(default_factory=list)
    """The records to produce, readings records then the dead-letter record (set by the batcher)."""

    def checked(
        self, faults: list[ReadingFault], accepted: int, changed: bool, value: bytes | None
    ) -> None:
        """Record the outcome of the checks."""
        self.faults = faults
        self.accepted = accepted
        self.changed = changed
        self.value = value

    @property
    def seq(self) -> int:
        """The client's sequence number for this batch."""
        return self.parsed.seq

    @property
    def source_id(self) -> str:
        """The gateway that sent the batch."""
        return self.parsed.source_id

    @property
    def session_id(self) -> str:
        """The client's session."""
        return self.parsed.session_id

    @property
    def count(self) -> int:
        """How many readings the batch holds."""
        return reading_count(self.parsed)

    def sent(self, index: int) -> Reading:
        """Reading ``index`` exactly as the client sent it (a rejected reading never changes)."""
        parsed = self.parsed
        if isinstance(parsed, WireBatch):
            return Reading.FromString(parsed.reading(index))
        return parsed.readings[index]


class _HandedOn:
    """An awaitable that is already complete."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # a generator that ends at once


HANDED_ON: Final = _HandedOn()
"""What a stage's ``consume`` returns when it handed the batch on without waiting: the
caller has nothing to await (awaiting it anyway returns at once)."""
