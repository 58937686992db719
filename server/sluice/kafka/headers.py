"""CloudEvents Kafka headers (binary mode) for the records of one batch.

Every value is a UTF-8 string. The headers that are the same for every part of a batch are
built once per batch; each part then adds only its id and part number.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Final

from sluice.batch import Batch

Header = tuple[str, bytes]

READINGS_TYPE: Final = b"sluice.v1.ReadingBatch"
REJECTED_TYPE: Final = b"sluice.v1.RejectedBatch"
PROTOBUF_CONTENT_TYPE: Final = b"application/x-protobuf"
JSON_CONTENT_TYPE: Final = b"application/json"

_SPECVERSION: Final[Header] = ("ce_specversion", b"1.0")
_SCHEMAVERSION: Final[Header] = ("ce_schemaversion", b"1")
_TYPE_HEADERS: Final = {
    READINGS_TYPE: ("ce_type", READINGS_TYPE),
    REJECTED_TYPE: ("ce_type", REJECTED_TYPE),
}
_CONTENT_TYPE_HEADERS: Final = {
    PROTOBUF_CONTENT_TYPE: ("content-type", PROTOBUF_CONTENT_TYPE),
    JSON_CONTENT_TYPE: ("content-type", JSON_CONTENT_TYPE),
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
        session = batch.session_id
        seq = str(batch.seq)
        self._id_prefix = f"{session}:{seq}:"
        self._middle: tuple[Header, ...] = (
            ("ce_source", f"/tenants/{batch.tenant}/sources/{batch.source_id}".encode()),
            _TYPE_HEADERS[ce_type],
            ("ce_time", rfc3339_utc(batch.received_unix_ns).encode()),
            _CONTENT_TYPE_HEADERS[content_type],
            ("ce_tenantid", batch.tenant.encode()),
            _SCHEMAVERSION,
            ("sluice_session", session.encode()),
            ("sluice_seq", seq.encode()),
        )
        parts_header = ("sluice_parts", str(parts).encode())
        if batch.traceparent:
            self._tail: tuple[Header, ...] = (
                parts_header,
                ("traceparent", batch.traceparent.encode()),
            )
        else:
            self._tail = (parts_header,)

    def for_part(self, part: int) -> list[Header]:
        """The full header list of part number ``part`` (counted from 0)."""
        number = str(part)
        return [
            _SPECVERSION,
            ("ce_id", (self._id_prefix + number).encode()),
            *self._middle,
            ("sluice_part", number.encode()),
            *self._tail,
        ]
