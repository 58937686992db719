"""The record contract: keys, values, parts and CloudEvents headers of a batch's records."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import json_format

from sluice.core._wire import walk
from sluice.core.batch import Batch, ReadingFault, Record
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.core.config.kafka import KafkaConfig
from sluice.delivery.kafka.headers import rfc3339_utc
from sluice.delivery.kafka.records import dead_letter_record, readings_records
from sluice.stages.process.checker import ReadingChecker
from sluice.v1.ingest_pb2 import Reading, ReadingBatch, RejectedBatch
from tests.support.batches import (
    RECEIVED_RFC3339,
    TRACEPARENT,
    fault,
    headers_dict,
    make_batch,
    reading,
)

CAP = 2000


def config(**overrides: Any) -> KafkaConfig:
    return KafkaConfig(topic="readings", dlq_topic="dead", **overrides)


def decode(record: Record, encoding: str = "protobuf") -> ReadingBatch:
    if encoding == "json":
        return json_format.Parse(record.value, ReadingBatch())
    return ReadingBatch.FromString(record.value)


def devices_and_values(readings: Any) -> list[tuple[str, float]]:
    return [(r.device_id, r.value) for r in readings]


async def test_a_batch_becomes_one_record_keyed_by_source_with_the_cloudevents_headers() -> None:
    batch = make_batch([reading(value=1.0), reading(value=2.0)])

    (record,) = readings_records(batch, config())

    assert (record.topic, record.key, record.readings) == ("readings", b"gw-1", 2)
    assert record.headers == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"sess-1:7:0"),
        ("ce_source", b"/tenants/acme/sources/gw-1"),
        ("ce_type", b"sluice.v1.ReadingBatch"),
        ("ce_time", RECEIVED_RFC3339.encode()),
        ("content-type", b"application/x-protobuf"),
        ("ce_tenantid", b"acme"),
        ("ce_schemaversion", b"1"),
        ("sluice_session", b"sess-1"),
        ("sluice_seq", b"7"),
        ("sluice_part", b"0"),
        ("sluice_parts", b"1"),
        ("traceparent", TRACEPARENT.encode()),
    ]


async def test_traceparent_is_left_out_when_the_batch_has_none() -> None:
    (record,) = readings_records(make_batch([reading()], traceparent=""), config())

    assert "traceparent" not in headers_dict(record.headers)
    assert len(record.headers) == 12


@pytest.mark.parametrize(
    ("unix_ns", "expected"),
    [
        (0, "1970-01-01T00:00:00.000000Z"),
        (1_767_323_045_000_000_999, "2026-01-02T03:04:05.000000Z"),
        (1_767_323_045_999_999_999, "2026-01-02T03:04:05.999999Z"),
    ],
)
def test_ce_time_is_rfc3339_utc_with_microseconds(unix_ns: int, expected: str) -> None:
    assert rfc3339_utc(unix_ns) == expected


async def test_an_unchanged_valid_batch_passes_through_as_the_bytes_the_client_sent() -> None:
    batch = make_batch([reading(), reading(value=3.0)])

    (record,) = readings_records(batch, config())

    assert record.value is batch.raw


def message_of(batch: Batch) -> ReadingBatch:
    """The parsed message of a batch made by ``make_batch`` (checked in place)."""
    assert isinstance(batch.parsed, ReadingBatch)
    return batch.parsed


def _recheck(batch: Batch, faults: list[ReadingFault], changed: bool) -> None:
    """Hand ``batch`` on as the checker would, from its (rewritten) message and ``faults``."""
    kept = ReadingBatch()
    kept.CopyFrom(message_of(batch))
    for index in sorted({f.index for f in faults}, reverse=True):
        del kept.readings[index]
    batch.checked(faults, len(kept.readings), changed, kept.SerializeToString())


def _changed(batch: Batch) -> None:
    message_of(batch).readings[0].value = 99.0
    _recheck(batch, batch.faults, True)


def _faulty(batch: Batch) -> None:
    _recheck(batch, [fault(1)], batch.changed)


@pytest.mark.parametrize(
    ("case", "prepare", "settings", "expected_values"),
    [
        ("a transform changed a reading", _changed, {}, [99.0, 2.0, 3.0]),
        ("a reading failed its checks", _faulty, {}, [1.0, 3.0]),
        ("one rewritten, one failed", lambda b: (_changed(b), _faulty(b)), {}, [99.0, 3.0]),
        ("json encoding", lambda b: None, {"encoding": "json"}, [1.0, 2.0, 3.0]),
        ("keyed by device", lambda b: None, {"key": "device"}, [1.0, 2.0, 3.0]),
    ],
)
async def test_everything_else_is_encoded_again(
    case: str, prepare: Any, settings: dict[str, Any], expected_values: list[float]
) -> None:
    batch = make_batch([reading(value=1.0), reading(value=2.0), reading(value=3.0)])
    prepare(batch)
    encoding = settings.get("encoding", "protobuf")

    (record,) = readings_records(batch, config(**settings))

    assert record.value is not batch.raw, case
    value = decode(record, encoding)
    assert [r.value for r in value.readings] == expected_values
    assert (value.seq, value.source_id, value.session_id) == (7, "gw-1", "sess-1")
    assert record.readings == len(expected_values)


async def test_faulty_readings_are_left_out_of_the_readings_record() -> None:
    batch = make_batch(
        [reading(value=float(i)) for i in range(6)], faults=[fault(0), fault(3), fault(5)]
    )

    (record,) = readings_records(batch, config())

    assert [r.value for r in decode(record).readings] == [1.0, 2.0, 4.0]
    assert record.readings == 3


async def test_the_readings_left_after_faults_go_out_as_the_client_sent_them() -> None:
    first, faulty = reading(value=1.0), reading(value=math.nan)
    # The client wrote the last reading's fields in its own order, which a re-encoding
    # would not keep.
    payload = (
        Reading(metric=first.metric, value=2.0).SerializeToString()
        + Reading(
            device_id=first.device_id,
            time_unix_nano=first.time_unix_nano,
            unit=first.unit,
            tags=first.tags,
        ).SerializeToString()
    )
    sent = ReadingBatch(seq=7, source_id="gw-1", session_id="sess-1", readings=[first, faulty])
    raw = sent.SerializeToString() + b"\x1a" + bytes([len(payload)]) + payload
    walked = walk(raw)
    assert walked is not None
    batch = make_batch([])
    batch.raw, batch.parsed = raw, walked
    checker = ReadingChecker(ChecksConfig(), TransformsConfig())
    batch.checked(*checker.check(walked, first.time_unix_nano))

    (record,) = readings_records(batch, config())

    assert payload in record.value
    assert [r.value for r in decode(record).readings] == [1.0, 2.0]
    assert record.readings == 2


async def test_a_batch_with_no_accepted_reading_has_no_readings_record() -> None:
    batch = make_batch([reading(), reading()], faults=[fault(0), fault(1)])

    assert readings_records(batch, config()) == []


async def test_device_keys_give_one_part_per_device_in_order_of_first_appearance() -> None:
    sent = [("b", 1.0), ("a", 2.0), ("b", 3.0), ("c", 4.0), ("a", 5.0), ("b", 6.0)]
    batch = make_batch([reading(device, value) for device, value in sent], faults=[fault(5)])

    records = readings_records(batch, config(key="device"))

    assert [r.key for r in records] == [b"b", b"a", b"c"]
    assert [devices_and_values(decode(r).readings) for r in records] == [
        [("b", 1.0), ("b", 3.0)],
        [("a", 2.0), ("a", 5.0)],
        [("c", 4.0)],
    ]
    assert [r.readings for r in records] == [2, 2, 1]
    headers = [headers_dict(r.headers) for r in records]
    assert [h["sluice_part"] for h in headers] == ["0", "1", "2"]
    assert {h["sluice_parts"] for h in headers} == {"3"}
    assert [h["ce_id"] for h in headers] == ["sess-1:7:0", "sess-1:7:1", "sess-1:7:2"]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
@pytest.mark.parametrize("key", ["source", "device"])
async def test_parts_over_the_byte_cap_are_split_and_together_hold_every_reading_in_order(
    encoding: str, key: str
) -> None:
    sent = [reading(f"dev-{i % 2}", float(i), {"n": str(i) * 5}) for i in range(120)]
    batch = make_batch(sent, faults=[fault(7), fault(80)])
    expected = [r for i, r in enumerate(sent) if i not in (7, 80)]

    records = readings_records(batch, config(record_max_bytes=CAP, encoding=encoding, key=key))

    assert len(records) > 2
    assert all(len(r.value) <= CAP for r in records)
    decoded = [decode(r, encoding) for r in records]
    assert [r.readings for r in records] == [len(d.readings) for d in decoded]
    held: dict[bytes, list[tuple[str, float]]] = {}
    for record, value in zip(records, decoded, strict=True):
        held.setdefault(record.key, []).extend(devices_and_values(value.readings))
    wanted: dict[bytes, list[tuple[str, float]]] = {}
    for r in expected:
        group = r.device_id.encode() if key == "device" else b"gw-1"
        wanted.setdefault(group, []).append((r.device_id, r.value))
    assert held == wanted
    headers = [headers_dict(r.headers) for r in records]
    assert [h["sluice_part"] for h in headers] == [str(i) for i in range(len(records))]
    assert {h["sluice_parts"] for h in headers} == {str(len(records))}


async def test_an_unchanged_batch_over_the_cap_is_split_rather_than_passed_through() -> None:
    batch = make_batch([reading(value=float(i), tags={"pad": "x" * 40}) for i in range(60)])
    assert len(batch.raw) > CAP

    records = readings_records(batch, config(record_max_bytes=CAP))

    assert len(records) > 1
    assert all(len(r.value) <= CAP for r in records)
    values = [r.value for part in records for r in decode(part).readings]
    assert values == [float(i) for i in range(60)]


async def test_a_reading_larger_than_the_cap_goes_alone_in_its_part() -> None:
    huge = reading(value=2.0, tags={"blob": "x" * (CAP * 2)})
    batch = make_batch([reading(value=1.0), huge, reading(value=3.0)], faults=[])

    records = readings_records(batch, config(record_max_bytes=CAP))

    assert [[r.value for r in decode(part).readings] for part in records] == [[1.0], [2.0], [3.0]]
    assert [len(part.value) > CAP for part in records] == [False, True, False]


async def test_json_values_decode_back_and_carry_int64_as_strings() -> None:
    batch = make_batch([reading(value=1.5)])

    (record,) = readings_records(batch, config(encoding="json"))

    assert headers_dict(record.headers)["content-type"] == "application/json"
    assert b'"time_unix_nano": "1767323000000000000"' in record.value
    assert json_format.Parse(record.value, ReadingBatch()) == message_of(batch)


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
async def test_the_dead_letter_record_holds_every_faulty_reading_as_sent(encoding: str) -> None:
    sent = [reading(value=float(i)) for i in range(4)]
    faults = [fault(1, "VALUE_NOT_FINITE"), fault(3, "TIME_TOO_OLD")]
    batch = make_batch(sent, faults=faults)

    record = dead_letter_record(batch, config(encoding=encoding))

    assert (record.topic, record.key, record.readings) == ("dead", b"gw-1", 0)
    if encoding == "json":
        value = json_format.Parse(record.value, RejectedBatch())
    else:
        value = RejectedBatch.FromString(record.value)
    assert (value.source_id, value.session_id, value.seq) == ("gw-1", "sess-1", 7)
    assert [(r.index, r.reason, r.message) for r in value.readings] == [
        (1, "VALUE_NOT_FINITE", "reading 1 failed"),
        (3, "TIME_TOO_OLD", "reading 3 failed"),
    ]
    assert [r.reading for r in value.readings] == [sent[1], sent[3]]
    headers = headers_dict(record.headers)
    assert headers["ce_type"] == "sluice.v1.RejectedBatch"
    assert (headers["ce_id"], headers["sluice_part"], headers["sluice_parts"]) == (
        "sess-1:7:0",
        "0",
        "1",
    )
    assert headers["ce_source"] == "/tenants/acme/sources/gw-1"
    expected_type = "application/json" if encoding == "json" else "application/x-protobuf"
    assert headers["content-type"] == expected_type
