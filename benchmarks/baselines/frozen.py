"""The floor's own copies of what it once shared with Sluice: the records and the Ack.

Frozen on 2026-12-06 from Sluice's record building (``delivery/kafka/records.py`` and
``headers.py``, for the floor's config: protobuf values keyed by source_id, no splitting) and
Ack building (``frontdoors/receiver/acks.py``), so that a change that makes Sluice's own
copies cheaper makes Sluice faster against the floor, never the floor faster too. Only the
checks (the C walk and ``ReadingChecker``) stay shared: they are the work both must do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from sluice.core._wire import WireBatch
from sluice.core.batch import ReadingFault
from sluice.v1.ingest_pb2 import Ack, AckStatus, Reading, ReadingBatch, RejectedBatch, Rejection

Header = tuple[str, bytes]
OK, PARTIAL, REJECTED, UNAVAILABLE = (
    AckStatus.ACK_STATUS_OK,
    AckStatus.ACK_STATUS_PARTIAL,
    AckStatus.ACK_STATUS_REJECTED,
    AckStatus.ACK_STATUS_UNAVAILABLE,
)
NO_VALID_READINGS: Final = "NO_VALID_READINGS"
KAFKA_UNAVAILABLE: Final = "KAFKA_UNAVAILABLE"
READINGS_TYPE: Final = ("ce_type", b"sluice.v1.ReadingBatch")
REJECTED_TYPE: Final = ("ce_type", b"sluice.v1.RejectedBatch")
_SPECVERSION: Final[Header] = ("ce_specversion", b"1.0")
_SCHEMAVERSION: Final[Header] = ("ce_schemaversion", b"1")
_CONTENT_TYPE: Final[Header] = ("content-type", b"application/x-protobuf")


@dataclass(slots=True, eq=False)
class FloorBatch:
    """One batch as the floor holds it: what it was sent, and what the checks made of it."""

    tenant: str
    raw: bytes
    parsed: WireBatch | ReadingBatch
    received_unix_ns: int
    traceparent: str
    faults: list[ReadingFault] = field(default_factory=list)
    accepted: int = 0
    value: bytes | None = None


@dataclass(slots=True)
class FloorRecord:
    """One Kafka record, ready to produce."""

    topic: str
    key: bytes
    value: bytes
    headers: list[Header]


def readings_record(batch: FloorBatch, topic: str) -> FloorRecord | None:
    """The one readings record of ``batch`` (its accepted readings), None without any."""
    if not batch.accepted:
        return None
    value = batch.raw if batch.value is None else batch.value
    parsed = batch.parsed
    return FloorRecord(topic, parsed.source_id.encode(), value, _headers(batch, READINGS_TYPE, 1))


def dead_letter_record(batch: FloorBatch, topic: str) -> FloorRecord:
    """The dead-letter record of ``batch``: every faulty reading as sent, with its reason."""
    parsed = batch.parsed
    rejected = RejectedBatch(
        source_id=parsed.source_id, session_id=parsed.session_id, seq=parsed.seq
    )
    for fault in batch.faults:
        item = rejected.readings.add(index=fault.index, reason=fault.reason, message=fault.message)
        item.reading.CopyFrom(_sent(parsed, fault.index))
    return FloorRecord(
        topic,
        parsed.source_id.encode(),
        rejected.SerializeToString(),
        _headers(batch, REJECTED_TYPE, 1),
    )


class DeadLetterBudget:
    """The dead-letter records a tenant may send: a token bucket of ``ratelimit.dlq``'s
    default (100 per second, a burst of 1,000), as the record contract caps them."""

    def __init__(self, rate: float = 100.0, burst: float = 1000.0) -> None:
        self._rate, self._burst = rate, burst
        self._tokens, self._at = burst, time.monotonic()

    def allow(self) -> bool:
        """Take a token if there is one."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def ack_for_batch(batch: FloorBatch) -> Ack:
    """The Ack of a batch whose accepted readings are delivered."""
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
        ack.reason = NO_VALID_READINGS
    return ack


def ack_unavailable(seq: int) -> Ack:
    """The Ack of a batch Kafka did not take."""
    return Ack(seq=seq, status=UNAVAILABLE, reason=KAFKA_UNAVAILABLE, retry_after_ms=1000)


def _headers(batch: FloorBatch, ce_type: Header, parts: int) -> list[Header]:
    parsed = batch.parsed
    session, seq = parsed.session_id, str(parsed.seq)
    headers = [
        _SPECVERSION,
        ("ce_id", f"{session}:{seq}:0".encode()),
        ("ce_source", f"/tenants/{batch.tenant}/sources/{parsed.source_id}".encode()),
        ce_type,
        ("ce_time", _rfc3339_utc(batch.received_unix_ns).encode()),
        _CONTENT_TYPE,
        ("ce_tenantid", batch.tenant.encode()),
        _SCHEMAVERSION,
        ("sluice_session", session.encode()),
        ("sluice_seq", seq.encode()),
        ("sluice_part", b"0"),
        ("sluice_parts", str(parts).encode()),
    ]
    if batch.traceparent:
        headers.append(("traceparent", batch.traceparent.encode()))
    return headers


def _rfc3339_utc(unix_ns: int) -> str:
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    return f"{_second_prefix(seconds)}.{nanos // 1000:06d}Z"


@lru_cache(maxsize=4)
def _second_prefix(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _sent(parsed: WireBatch | ReadingBatch, index: int) -> Reading:
    if isinstance(parsed, WireBatch):
        return Reading.FromString(parsed.reading(index))
    return parsed.readings[index]
