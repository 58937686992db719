"""CloudEvents Kafka headers (binary mode) for the records of one batch.

Every value is a UTF-8 string. The headers that are the same for every part of a batch are
built once per batch; each part then adds only its id and part number.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Final

from sluice.core.batch import Batch
from sluice.core.record_contract import (
    CONTENT_TYPE_HEADER,
    ID_HEADER,
    JSON_CONTENT_TYPE,
    PART_HEADER,
    PARTS_HEADER,
    PROTOBUF_CONTENT_TYPE,
    READINGS_TYPE,
    REJECTED_TYPE,
    SCHEMAVERSION,
    SCHEMAVERSION_HEADER,
    SEQ_HEADER,
    SESSION_HEADER,
    SOURCE_HEADER,
    SPECVERSION,
    SPECVERSION_HEADER,
    TENANT_HEADER,
    TIME_HEADER,
    TRACEPARENT_HEADER,
    TYPE_HEADER,
    ce_id_prefix,
    ce_source,
)

Header = tuple[str, bytes]

_SPECVERSION: Final[Header] = (SPECVERSION_HEADER, SPECVERSION)
_SCHEMAVERSION: Final[Header] = (SCHEMAVERSION_HEADER, SCHEMAVERSION)
_TYPE_HEADERS: Final = {
    READINGS_TYPE: (TYPE_HEADER, READINGS_TYPE),
    REJECTED_TYPE: (TYPE_HEADER, REJECTED_TYPE),
}
_CONTENT_TYPE_HEADERS: Final = {
    PROTOBUF_CONTENT_TYPE: (CONTENT_TYPE_HEADER, PROTOBUF_CONTENT_TYPE),
    JSON_CONTENT_TYPE: (CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE),
}


def rfc3339_utc(unix_ns: int) -> str:
    """``unix_ns`` as RFC 3339 in UTC with microseconds, e.g. ``2026-01-02T03:04:05.678901Z``."""
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    return f"{_second_prefix(seconds)}.{nanos // 1000:06d}Z"


@lru_cache(maxsize=4)
def _second_prefix(seconds: int) -> str:
    # Batches arrive thousands per second, so consecutive ones share the formatted second.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


class PartHeaders:
    """The headers of every part of one batch's record set (readings or dead-letter)."""

    __slots__ = ("_id_prefix", "_middle", "_tail")

    def __init__(self, batch: Batch, ce_type: bytes, content_type: bytes, parts: int) -> None:
        parsed = batch.parsed  # its fields, not the batch's properties: read per batch
        session = parsed.session_id
        seq = str(parsed.seq)
        self._id_prefix = ce_id_prefix(session, parsed.seq)
        self._middle: tuple[Header, ...] = (
            (SOURCE_HEADER, ce_source(batch.tenant, parsed.source_id).encode()),
            _TYPE_HEADERS[ce_type],
            (TIME_HEADER, rfc3339_utc(batch.received_unix_ns).encode()),
            _CONTENT_TYPE_HEADERS[content_type],
            (TENANT_HEADER, batch.tenant.encode()),
            _SCHEMAVERSION,
            (SESSION_HEADER, session.encode()),
            (SEQ_HEADER, seq.encode()),
        )
        parts_header = (PARTS_HEADER, str(parts).encode())
        if batch.traceparent:
            self._tail: tuple[Header, ...] = (
                parts_header,
                (TRACEPARENT_HEADER, batch.traceparent.encode()),
            )
        else:
            self._tail = (parts_header,)

    def for_part(self, part: int) -> list[Header]:
        """The full header list of part number ``part`` (counted from 0)."""
        number = str(part)
        return [
            _SPECVERSION,
            (ID_HEADER, (self._id_prefix + number).encode()),
            *self._middle,
            (PART_HEADER, number.encode()),
            *self._tail,
        ]
