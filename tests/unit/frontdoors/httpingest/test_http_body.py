"""The JSON body of POST /v1/ingest to a ReadingBatch, and shape errors that name the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluice.frontdoors.httpingest.body import BodyError, parse_body, to_batch
from sluice.v1.ingest_pb2 import Location, Reading


def convert(body: Any, source_id: str = "http") -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return to_batch(parse_body(raw), source_id, "session-1", 7)


def test_every_field_reaches_the_reading() -> None:
    batch = convert(
        {
            "source_id": "gw-7",
            "readings": [
                {
                    "device_id": "dev-1",
                    "metric": "temperature",
                    "value": 21,
                    "timestamp": "2024-06-01T12:00:00Z",
                    "unit": "°C",
                    "tags": {"zone": "a"},
                    "location": {"lat": 48.85, "lon": 2.35},
                },
                {"device_id": "dev-2", "metric": "humidity", "value": 40.5},
            ],
        }
    )
    assert (batch.source_id, batch.session_id, batch.seq) == ("gw-7", "session-1", 7)
    first, second = batch.readings
    assert first == Reading(
        device_id="dev-1",
        metric="temperature",
        value=21.0,
        time_unix_nano=1_717_243_200_000_000_000,
        unit="°C",
        tags={"zone": "a"},
        location=Location(lat=48.85, lon=2.35),
    )
    assert second == Reading(device_id="dev-2", metric="humidity", value=40.5)
    assert not second.HasField("location")


def test_the_default_source_id_fills_a_missing_one() -> None:
    assert convert({"readings": []}, source_id="fallback").source_id == "fallback"


def test_values_the_checks_refuse_still_convert() -> None:
    # Per-reading checks belong to the pipeline, which answers PARTIAL or REJECTED.
    batch = convert(b'{"readings": [{"device_id": "bad id", "metric": "m", "value": NaN}]}')
    assert batch.readings[0].device_id == "bad id"
    assert batch.readings[0].value != batch.readings[0].value


def reading(**fields: Any) -> dict[str, Any]:
    return {"device_id": "d", "metric": "m", "value": 1.0, **fields}


@pytest.mark.parametrize(
    ("body", "field", "complaint"),
    [
        (b"{not json", "", "not valid JSON"),
        (b"\xff\xfe", "", "not valid JSON"),
        (b"", "", "not valid JSON"),
        ([reading()], "", "JSON object with a readings array"),
        ({}, "readings", "required"),
        ({"readings": {}}, "readings", "array"),
        ({"readings": [reading()], "seq": 3}, "seq", "not a field"),
        (
            {"readings": [reading(), {"metric": "m", "value": 1}]},
            "readings[1].device_id",
            "required",
        ),
        ({"readings": [reading(value="1.5")]}, "readings[0].value", "number"),
        ({"readings": [reading(value=True)]}, "readings[0].value", "number"),
        ({"readings": [reading(device_id=7)]}, "readings[0].device_id", "string"),
        ({"readings": [reading(tags={"zone": 1})]}, "readings[0].tags.zone", "string"),
        ({"readings": [reading(tags=["a"])]}, "readings[0].tags", "object"),
        ({"readings": [reading(location={"lat": 1})]}, "readings[0].location.lon", "required"),
        ({"readings": [reading(timestmap=1)]}, "readings[0].timestmap", "not a field"),
        ({"readings": [reading(timestamp=True)]}, "readings[0].timestamp", "epoch number"),
        ({"readings": [reading(timestamp="noon")]}, "readings[0].timestamp", "RFC 3339"),
        ({"readings": [reading(timestamp=[1])]}, "readings[0].timestamp", "epoch number"),
    ],
)
def test_shape_errors_name_the_field(body: Any, field: str, complaint: str) -> None:
    with pytest.raises(BodyError) as caught:
        convert(body)
    assert caught.value.field == field
    assert complaint in caught.value.message
