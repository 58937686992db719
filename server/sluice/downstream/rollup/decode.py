"""Reads one Kafka record of the readings topic back into its identity and its batch.

The identity is ``(ce_source, ce_id)``, which names a record part however often it was
produced; the tenant is ``ce_tenantid``. The value is a protobuf ``ReadingBatch``, or its
JSON when ``content-type`` is ``application/json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from sluice.core.record_contract import (
    CONTENT_TYPE_HEADER,
    ID_HEADER,
    JSON_CONTENT_TYPE,
    PROTOBUF_CONTENT_TYPE,
    SOURCE_HEADER,
    TENANT_HEADER,
)
from sluice.v1.ingest_pb2 import ReadingBatch

REQUIRED_HEADERS = (SOURCE_HEADER, ID_HEADER, TENANT_HEADER)


class UndecodableRecord(ValueError):
    """The record lacks an identity header, or its value is not a ``ReadingBatch``."""


@dataclass(slots=True, frozen=True)
class DecodedRecord:
    """One readings record: who sent it, its CloudEvents id, and its readings."""

    source: str
    event_id: str
    tenant: str
    batch: ReadingBatch

    @property
    def identity(self) -> tuple[str, str]:
        """``(ce_source, ce_id)``: the key the store de-duplicates on."""
        return (self.source, self.event_id)


Headers = Mapping[str, str | bytes | None] | Iterable[tuple[str, str | bytes | None]] | None


def decode_record(headers: Headers, value: bytes | None) -> DecodedRecord:
    """The record with these headers and value; raises ``UndecodableRecord`` saying why."""
    found: dict[str, bytes] = {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for key, item in pairs:
        if item is not None:
            found[key] = item.encode() if isinstance(item, str) else item
    missing = [name for name in REQUIRED_HEADERS if not found.get(name)]
    if missing:
        raise UndecodableRecord(f"missing header(s) {', '.join(missing)}")
    if any(b"\x00" in found[name] for name in REQUIRED_HEADERS):
        raise UndecodableRecord("a CloudEvents header holds a NUL byte")
    batch = _parse(found.get(CONTENT_TYPE_HEADER, PROTOBUF_CONTENT_TYPE), value or b"")
    try:
        return DecodedRecord(
            source=found[SOURCE_HEADER].decode(),
            event_id=found[ID_HEADER].decode(),
            tenant=found[TENANT_HEADER].decode(),
            batch=batch,
        )
    except UnicodeDecodeError as exc:
        raise UndecodableRecord(f"a CloudEvents header is not UTF-8: {exc}") from None


def _parse(content_type: bytes, value: bytes) -> ReadingBatch:
    batch = ReadingBatch()
    media_type = content_type.split(b";", 1)[0].strip().lower()
    try:
        if media_type == JSON_CONTENT_TYPE:
            json_format.Parse(value, batch, ignore_unknown_fields=True)
        elif media_type == PROTOBUF_CONTENT_TYPE:
            batch.ParseFromString(value)
        else:
            raise UndecodableRecord(f"unsupported content-type {content_type!r}")
    except (DecodeError, json_format.ParseError, UnicodeDecodeError) as exc:
        raise UndecodableRecord(
            f"value is not a {media_type.decode()} ReadingBatch: {exc}"
        ) from None
    return batch
