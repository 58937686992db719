"""ETL run records to readings: device, metrics, tags, time zones and malformed records."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sluice_client.replay import EtlLogParser, MalformedLine
from tests.support.logsamples import etl_log

RECORD: dict[str, Any] = {
    "No_Sequence": 1042,
    "Date_Sequence": "2024-03-15",
    "Heure_Sequence": 8,
    "Minute_Sequence": 30,
    "Entreprise": "Société Générale",
    "Zone": "EU-West",
    "Source": "sap",
    "Objet_Id": "OBJ-001",
    "Objet": "customers",
    "Transformation": "dedupe",
    "Etat": "FAILED",
    "Debut": "2024-03-15 08:30:00",
    "Fin": "2024-03-15 08:31:05",
    "Duree secondes": 65.2,
    "Description": "duplicate key",
    "cpu_time (sec)": 12.5,
    "memory_used (bytes)": 734003200,
}


def nanos(text: str, zone: str = "UTC") -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()) * 10**9


def parse(zone: str = "UTC", **changes: Any) -> list[Any]:
    record = {k: v for k, v in {**RECORD, **changes}.items() if v is not ...}
    return EtlLogParser(zone).readings(json.dumps(record))


def test_a_failed_run_gives_four_readings_with_its_description() -> None:
    readings = parse()
    assert [(r.metric, r.value, r.unit) for r in readings] == [
        ("etl.duration", 65.2, "s"),
        ("etl.cpu_time", 12.5, "s"),
        ("etl.memory_used", 734003200.0, "By"),
        ("etl.success", 0.0, ""),
    ]
    for reading in readings:
        assert reading.device_id == "Societe_Generale/sap/customers"
        assert reading.time_unix_nano == nanos("2024-03-15 08:31:05")
        assert dict(reading.tags) == {
            "zone": "EU-West",
            "object_id": "OBJ-001",
            "transformation": "dedupe",
            "state": "FAILED",
            "description": "duplicate key",
        }


def test_a_success_carries_no_description() -> None:
    readings = parse(Etat="success", Description="")
    assert readings[-1].value == 1.0
    assert "description" not in readings[0].tags
    assert readings[0].tags["state"] == "SUCCESS"


def test_times_are_in_the_configured_zone() -> None:
    assert parse("Europe/Paris")[0].time_unix_nano == nanos("2024-03-15 08:31:05", "Europe/Paris")
    offset = parse("Europe/Paris", Fin="2024-03-15T08:31:05+00:00")
    assert offset[0].time_unix_nano == nanos("2024-03-15 08:31:05"), "an explicit offset wins"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"Fin": ...}, "2024-03-15 08:30:00"),
        ({"Fin": ..., "Debut": ...}, "2024-03-15 08:30:00"),
        (
            {"Fin": ..., "Debut": ..., "Date_Sequence": "15/03/2024", "Minute_Sequence": "45"},
            "2024-03-15 08:45:00",
        ),
        ({"Fin": "15/03/2024 09:00:00"}, "2024-03-15 09:00:00"),
    ],
)
def test_the_run_time_falls_back(changes: dict[str, Any], expected: str) -> None:
    assert parse(**changes)[0].time_unix_nano == nanos(expected)


def test_numbers_may_be_strings_with_a_comma_and_missing_ones_are_omitted() -> None:
    readings = parse(
        **{"Duree secondes": "65,5", "cpu_time (sec)": None, "memory_used (bytes)": ...}
    )
    assert [(r.metric, r.value) for r in readings] == [("etl.duration", 65.5), ("etl.success", 0.0)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "json"),
        ("[1, 2]", "json"),
        (json.dumps({**RECORD, "Objet": None}), "Objet"),
        (json.dumps({**RECORD, "Entreprise": "***"}), "device"),
        (json.dumps({**RECORD, "Etat": "RUNNING"}), "Etat"),
        (json.dumps({**RECORD, "Duree secondes": "long"}), "Duree secondes"),
        (json.dumps({**RECORD, "cpu_time (sec)": "nan"}), "cpu_time (sec)"),
        (json.dumps({**RECORD, "memory_used (bytes)": True}), "memory_used (bytes)"),
        (json.dumps({**RECORD, "Duree secondes": 10**400}), "Duree secondes"),
        ('{"Duree secondes": ' + "9" * 5000 + "}", "json"),
        (json.dumps({**RECORD, "Zone": {"a": 1}}), "Zone"),
        (json.dumps({**RECORD, "Fin": "tomorrow"}), "time"),
        (json.dumps({**RECORD, "Fin": "0001-01-01 00:00:00"}), "time"),
        (json.dumps({**RECORD, "Fin": "9999-12-31T23:59:59+00:00"}), "time"),
        (json.dumps({**RECORD, "Fin": None, "Debut": None, "Date_Sequence": None}), "time"),
        (json.dumps({**RECORD, "Fin": None, "Debut": None, "Heure_Sequence": 25}), "time"),
    ],
)
def test_malformed_records_say_why(line: str, reason: str) -> None:
    with pytest.raises(MalformedLine) as caught:
        EtlLogParser().readings(line)
    assert caught.value.reason == reason


def test_a_realistic_file() -> None:
    sample = etl_log(150)
    parser = EtlLogParser()
    readings, malformed = [], {}
    for line in sample.text.splitlines():
        try:
            readings.extend(parser.readings(line))
        except MalformedLine as error:
            malformed[error.reason] = malformed.get(error.reason, 0) + 1
    assert malformed == sample.malformed
    successes = [r for r in readings if r.metric == "etl.success"]
    assert len(successes) == sample.good
    assert sum(1 for r in successes if r.value == 0.0) == sample.extra["failed"]
    assert all("description" in r.tags for r in successes if r.value == 0.0)
    assert {r.device_id.split("/")[0] for r in readings} <= {"Acme", "Societe_Generale", "Globex"}
