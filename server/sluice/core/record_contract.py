"""The Kafka record contract: what the producer writes and every consumer reads.

One record per accepted batch part, in CloudEvents' Kafka binding (binary mode), every header
a UTF-8 string. Consumers de-duplicate on ``(ce_source, ce_id)``; ``ce_id`` is
``{session_id}:{seq}:{part}`` and ``ce_source`` is ``/tenants/{tenant}/sources/{source_id}``.
The producer (``sluice.delivery.kafka``) and the roll-up (``sluice.downstream.rollup``) both
read it from here.
"""

from __future__ import annotations

from typing import Final

DEFAULT_TOPIC: Final = "sluice.readings.v1"
DEFAULT_DLQ_TOPIC: Final = "sluice.readings.dlq.v1"

READINGS_TYPE: Final = b"sluice.v1.ReadingBatch"
"""``ce_type`` of a readings record (value: ``sluice.v1.ReadingBatch``)."""
REJECTED_TYPE: Final = b"sluice.v1.RejectedBatch"
"""``ce_type`` of a dead-letter record (value: ``sluice.v1.RejectedBatch``)."""
PROTOBUF_CONTENT_TYPE: Final = b"application/x-protobuf"
JSON_CONTENT_TYPE: Final = b"application/json"
SPECVERSION: Final = b"1.0"
SCHEMAVERSION: Final = b"1"

SPECVERSION_HEADER: Final = "ce_specversion"
ID_HEADER: Final = "ce_id"
SOURCE_HEADER: Final = "ce_source"
TYPE_HEADER: Final = "ce_type"
TIME_HEADER: Final = "ce_time"
CONTENT_TYPE_HEADER: Final = "content-type"
TENANT_HEADER: Final = "ce_tenantid"
SCHEMAVERSION_HEADER: Final = "ce_schemaversion"
SESSION_HEADER: Final = "sluice_session"
SEQ_HEADER: Final = "sluice_seq"
PART_HEADER: Final = "sluice_part"
PARTS_HEADER: Final = "sluice_parts"
TRACEPARENT_HEADER: Final = "traceparent"


def ce_source(tenant: str, source_id: str) -> str:
    """The ``ce_source`` of every record of a gateway's batches."""
    return f"/tenants/{tenant}/sources/{source_id}"


def ce_id_prefix(session_id: str, seq: int) -> str:
    """``ce_id`` up to its part number: ``{session_id}:{seq}:``."""
    return f"{session_id}:{seq}:"
