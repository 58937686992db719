"""Records the server produces decode back to their identity, tenant and readings."""

from __future__ import annotations

import re

import pytest

from sluice.downstream.rollup.decode import UndecodableRecord, decode_record
from sluice.v1.ingest_pb2 import ReadingBatch
from tests.support.rollup import kafka_records, random_readings

READINGS = random_readings(6, seed=3, devices=("dev-a", "dev-b"))


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
@pytest.mark.parametrize("key", ["source", "device"])
def test_server_records_decode_in_either_encoding(encoding: str, key: str) -> None:
    records = kafka_records(
        READINGS,
        seq=9,
        session="s-1",
        tenant="acme",
        encoding=encoding,
        key=key,  # type: ignore[arg-type]
    )

    decoded = [decode_record(record.headers, record.value) for record in records]

    assert [d.identity for d in decoded] == [
        ("/tenants/acme/sources/gw-1", f"s-1:9:{part}") for part in range(len(records))
    ]
    assert {d.tenant for d in decoded} == {"acme"}
    readings = [r for d in decoded for r in d.batch.readings]
    assert sorted(r.SerializeToString() for r in readings) == sorted(
        r.SerializeToString() for r in READINGS
    )


def test_a_content_type_with_parameters_is_understood() -> None:
    [record] = kafka_records(READINGS, seq=1, encoding="json")
    headers = [
        (name, b"application/json; charset=utf-8" if name == "content-type" else value)
        for name, value in record.headers
    ]

    assert len(decode_record(headers, record.value).batch.readings) == len(READINGS)


def test_headers_as_a_mapping_of_strings_are_accepted() -> None:
    [record] = kafka_records(READINGS, seq=1)
    headers = {name: value.decode() for name, value in record.headers}

    assert decode_record(headers, record.value).event_id == "session-1:1:0"


GOOD = dict(kafka_records(READINGS, seq=1)[0].headers)
VALUE = ReadingBatch(readings=READINGS).SerializeToString()


@pytest.mark.parametrize(
    ("headers", "value", "message"),
    [
        ({**GOOD, "ce_id": b""}, VALUE, "missing header(s) ce_id"),
        ({k: v for k, v in GOOD.items() if k != "ce_tenantid"}, VALUE, "ce_tenantid"),
        (None, VALUE, "ce_source, ce_id, ce_tenantid"),
        ({**GOOD, "content-type": b"text/plain"}, VALUE, "unsupported content-type"),
        (GOOD, b"\xff\xff\xff", "not a application/x-protobuf ReadingBatch"),
        ({**GOOD, "content-type": b"application/json"}, b"{nope", "not a application/json"),
        ({**GOOD, "ce_source": b"\xff"}, VALUE, "not UTF-8"),
        ({**GOOD, "ce_id": b"s:1\x00:0"}, VALUE, "NUL byte"),
    ],
)
def test_a_record_that_is_not_a_readings_batch_is_refused_saying_why(
    headers: dict[str, bytes] | None, value: bytes, message: str
) -> None:
    with pytest.raises(UndecodableRecord, match=re.escape(message)):
        decode_record(headers, value)
