"""The Kafka records of one batch, as the record contract in DESIGN.md lays them out.

- Readings: one ``ReadingBatch`` holding the batch's accepted readings, keyed by source_id;
  or, with ``key: device``, one part per device keyed by device_id. A part whose value would
  exceed ``record_max_bytes`` is split into more parts (a single reading larger than the cap
  goes alone in its part). Parts are numbered from 0 across the batch.
- Passthrough: keyed by source and encoded as protobuf, a batch's accepted readings go out
  as the checker encoded them (``Batch.value``: in C, from the bytes the client sent), or
  as those very bytes when every reading passed unchanged.
- Dead letters: one ``RejectedBatch`` per batch with faults, keyed by source_id.

These are pure functions of the batch and the config.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import json_format
from google.protobuf.message import Message

from sluice.core.batch import Batch, Record
from sluice.core.config.kafka import KafkaConfig
from sluice.core.record_contract import (
    JSON_CONTENT_TYPE,
    PROTOBUF_CONTENT_TYPE,
    READINGS_TYPE,
    REJECTED_TYPE,
)
from sluice.delivery.kafka.headers import PartHeaders
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
    rejected = RejectedBatch(source_id=batch.source_id, session_id=batch.session_id, seq=batch.seq)
    for fault in batch.faults:
        item = rejected.readings.add(index=fault.index, reason=fault.reason, message=fault.message)
        item.reading.CopyFrom(batch.sent(fault.index))
    headers = PartHeaders(batch, REJECTED_TYPE, _content_type(config), 1)
    return Record(
        topic=config.dlq_topic,
        key=batch.source_id.encode(),
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
    count = batch.accepted
    if not count:
        return []
    value = batch.raw if batch.value is None else batch.value
    cap = config.record_max_bytes
    as_json = config.encoding == "json"
    if not as_json and config.key == "source" and len(value) <= cap:
        return [(batch.parsed.source_id.encode(), value, count)]
    message = ReadingBatch.FromString(value)
    readings = message.readings
    if config.key == "device":
        chunks: list[Chunk] = []
        for device, group in _by_device(readings).items():
            key = device.encode()
            part = _subset(message, group)
            chunks.extend((key, value, count) for value, count in _capped(part, cap, as_json))
        return chunks
    key = message.source_id.encode()
    return [(key, value, count) for value, count in _capped(message, cap, as_json)]


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
