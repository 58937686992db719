"""The Kafka records of one batch, as the record contract in DESIGN.md lays them out.

- Readings: one ``ReadingBatch`` holding the batch's accepted readings, keyed by source_id;
  or, with ``key: device``, one part per device keyed by device_id. A part whose value would
  exceed ``record_max_bytes`` is split into more parts (a single reading larger than the cap
  goes alone in its part). Parts are numbered from 0 across the batch.
- Passthrough: a batch that passed every check unchanged, keyed by source and encoded as
  protobuf, goes out as the bytes the client sent; with faults, as those bytes without the
  faulty readings.
- Dead letters: one ``RejectedBatch`` per batch with faults, keyed by source_id.

These are pure functions of the batch and the config.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import json_format
from google.protobuf.message import Message

from sluice.batch import Batch, ReadingFault, Record
from sluice.kafka.config import KafkaConfig
from sluice.kafka.headers import (
    JSON_CONTENT_TYPE,
    PROTOBUF_CONTENT_TYPE,
    READINGS_TYPE,
    REJECTED_TYPE,
    PartHeaders,
)
from sluice.process.columns import ReadingBytes
from sluice.v1.ingest_pb2 import Reading, ReadingBatch, RejectedBatch

Chunk = tuple[bytes, bytes, int]
"""A readings part before its headers: key, value and how many readings it holds."""


def readings_records(batch: Batch, config: KafkaConfig) -> list[Record]:
    """The readings records of ``batch``: its accepted readings, in order, split as needed."""
    chunks = _readings_chunks(batch, config)
    if not chunks:
        return []
    headers = PartHeaders(batch, READINGS_TYPE, _content_type(config), len(chunks))
    topic = config.topic
    return [
        Record(topic, key, value, headers.for_part(part), count)
        for part, (key, value, count) in enumerate(chunks)
    ]


def dead_letter_record(batch: Batch, config: KafkaConfig) -> Record:
    """The dead-letter record of ``batch``: every faulty reading as sent, with its reason."""
    message = batch.message
    readings = message.readings
    rejected = RejectedBatch(
        source_id=message.source_id, session_id=message.session_id, seq=message.seq
    )
    for fault in batch.faults:
        item = rejected.readings.add(index=fault.index, reason=fault.reason, message=fault.message)
        item.reading.CopyFrom(readings[fault.index])
    headers = PartHeaders(batch, REJECTED_TYPE, _content_type(config), 1)
    return Record(
        topic=config.dlq_topic,
        key=message.source_id.encode(),
        value=encode(rejected, config.encoding == "json"),
        headers=headers.for_part(0),
        readings=0,
    )


def encode(message: Message, as_json: bool) -> bytes:
    """``message`` as protobuf bytes, or as JSON with proto field names (int64 as strings)."""
    if as_json:
        text = json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)
        return text.encode()
    return message.SerializeToString()


def _content_type(config: KafkaConfig) -> bytes:
    return JSON_CONTENT_TYPE if config.encoding == "json" else PROTOBUF_CONTENT_TYPE


def _readings_chunks(batch: Batch, config: KafkaConfig) -> list[Chunk]:
    message = batch.message
    cap = config.record_max_bytes
    as_json = config.encoding == "json"
    as_sent = not as_json and config.key == "source" and not batch.changed
    if batch.faults:
        if as_sent:
            value, count = _raw_without(batch.raw, batch.faults)
            if not count:
                return []
            if len(value) <= cap:
                return [(message.source_id.encode(), value, count)]
        message = _without(message, batch.faults)
    elif as_sent and len(batch.raw) <= cap:
        if not message.readings:
            return []
        return [(message.source_id.encode(), batch.raw, len(message.readings))]
    readings = message.readings
    if not readings:
        return []
    if config.key == "device":
        chunks: list[Chunk] = []
        for device, group in _by_device(readings).items():
            key = device.encode()
            part = _subset(message, group)
            chunks.extend((key, value, count) for value, count in _capped(part, cap, as_json))
        return chunks
    key = message.source_id.encode()
    return [(key, value, count) for value, count in _capped(message, cap, as_json)]


def _raw_without(raw: bytes, faults: list[ReadingFault]) -> tuple[bytes, int]:
    """``raw`` without the faulty readings, and how many readings are left.

    The readings are kept as the bytes the client sent (they passed unchanged), so this
    costs a split and a join in C, not a copy and a re-encoding of every reading. The other
    fields of the batch are kept too (as unknown fields of the view, re-emitted as read).
    """
    view = ReadingBytes.FromString(raw)
    readings = view.readings
    for index in sorted({fault.index for fault in faults}, reverse=True):
        del readings[index]
    return view.SerializeToString(), len(readings)


def _without(message: ReadingBatch, faults: list[ReadingFault]) -> ReadingBatch:
    """A copy of ``message`` without the faulty readings (a C-level copy, then deletes)."""
    accepted = ReadingBatch()
    accepted.CopyFrom(message)
    readings = accepted.readings
    for index in sorted({fault.index for fault in faults}, reverse=True):
        del readings[index]
    return accepted


def _by_device(readings: Sequence[Reading]) -> dict[str, list[Reading]]:
    """``readings`` grouped by device_id, devices in order of first appearance."""
    groups: dict[str, list[Reading]] = {}
    for reading in readings:
        device = reading.device_id
        group = groups.get(device)
        if group is None:
            groups[device] = [reading]
        else:
            group.append(reading)
    return groups


def _subset(message: ReadingBatch, readings: Sequence[Reading]) -> ReadingBatch:
    part = ReadingBatch(seq=message.seq, source_id=message.source_id, session_id=message.session_id)
    part.readings.extend(readings)
    return part


def _capped(part: ReadingBatch, cap: int, as_json: bool) -> list[tuple[bytes, int]]:
    """``part`` encoded as one value when it fits under ``cap``, else split as needed."""
    value = encode(part, as_json)
    readings = part.readings
    if len(value) <= cap or len(readings) == 1:
        return [(value, len(readings))]
    ratio = len(value) / max(part.ByteSize(), 1)
    return _split(part, readings, cap, as_json, ratio)


def _split(
    message: ReadingBatch, readings: Sequence[Reading], cap: int, as_json: bool, ratio: float
) -> list[tuple[bytes, int]]:
    """Pack ``readings`` greedily into parts that fit under ``cap``, keeping their order.

    Each reading's size is its exact protobuf size within a ``ReadingBatch``, scaled by
    ``ratio`` (encoded size / protobuf size of the whole) so JSON is estimated too. Any part
    the estimate got wrong is halved until it fits.
    """
    budget = cap - len(encode(_subset(message, ()), as_json))
    parts: list[tuple[bytes, int]] = []
    start = 0
    used = 0.0
    for index, reading in enumerate(readings):
        size = reading.ByteSize()
        framed = (size + 1 + _varint_length(size)) * ratio
        if index > start and used + framed > budget:
            parts.extend(_fitting(message, readings[start:index], cap, as_json))
            start = index
            used = 0.0
        used += framed
    parts.extend(_fitting(message, readings[start:], cap, as_json))
    return parts


def _fitting(
    message: ReadingBatch, readings: Sequence[Reading], cap: int, as_json: bool
) -> list[tuple[bytes, int]]:
    value = encode(_subset(message, readings), as_json)
    if len(value) <= cap or len(readings) == 1:
        return [(value, len(readings))]
    middle = len(readings) // 2
    return _fitting(message, readings[:middle], cap, as_json) + _fitting(
        message, readings[middle:], cap, as_json
    )


def _varint_length(value: int) -> int:
    return (value.bit_length() + 6) // 7 or 1
