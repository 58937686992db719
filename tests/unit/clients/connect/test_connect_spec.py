"""Connector specs: the committed schema and example, and errors that name their field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from connect_helpers import EXAMPLE, example_document

from sluice_client.connect import SpecError, load_spec, parse_spec, schema

SCHEMA_FILE = EXAMPLE.parent / "schema.json"


def test_the_committed_schema_is_the_one_the_loader_uses() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == schema()


def test_the_example_is_valid_and_reads_the_environment() -> None:
    spec = load_spec(EXAMPLE, environ={"WEATHER_API_TOKEN": "t0k"})
    assert (spec.name, spec.version, spec.mode, spec.interval_s) == (
        "weather-stations",
        1,
        "incremental",
        30.0,
    )
    assert spec.source.headers["Authorization"] == "Bearer t0k"
    assert (spec.source.cursor_param, spec.retries, spec.backoff_s) == ("since", 4, 1.0)
    assert load_spec(EXAMPLE, environ={}).source.headers["Authorization"] == "Bearer dev-token"


def test_defaults_fill_the_optional_fields() -> None:
    document = example_document()
    for key in ("enabled", "retries", "backoff_seconds"):
        del document[key]
    spec = parse_spec(document)
    assert (spec.enabled, spec.retries, spec.backoff_s) == (True, 3, 1.0)


def change(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        document = document[part]
    if value is ...:
        del document[last]
    else:
        document[last] = value


@pytest.mark.parametrize(
    ("dotted", "value", "problem"),
    [
        ("owner", ..., "owner: is required"),
        ("name", "Weather Stations", "name: 'Weather Stations' does not match"),
        ("version", 0, "version: 0 is less than the minimum of 1"),
        ("mode", "sometimes", "mode: 'sometimes' is not one of"),
        ("colour", "blue", "colour: unknown field"),
        ("schedule", {}, "schedule: {} should be non-empty"),
        ("schedule", {"interval": "30s", "cron": "* * * * *"}, "schedule: {"),
        ("schedule", {"interval": "30 seconds"}, "schedule.interval: '30 seconds' does not match"),
        (
            "schedule",
            {"cron": "61 * * * *"},
            "schedule.cron: '61 * * * *' is not a cron expression",
        ),
        ("source.url", "ftp://example", "source.url: 'ftp://example' does not match"),
        ("source.cursor_param", ..., "source.cursor_param: is required"),
        ("source.headers", {"X-Count": 3}, "source.headers.X-Count: 3 is not of type 'string'"),
        ("source.timeout_seconds", 0, "source.timeout_seconds: 0 is less than or equal to"),
        ("mapping.device_id", ..., "mapping.device_id: is required"),
        ("mapping.items", "observations", "mapping.items: 'observations' does not match"),
        ("mapping.items", "$..[", "mapping.items: '$..[' is not a JSONPath"),
        (
            "mapping.tags",
            {"zone": "$.a[?(@.b ==]"},
            "mapping.tags.zone: '$.a[?(@.b ==]' is not a JSONPath",
        ),
        ("mapping.values", ..., "mapping.value or mapping.values: is required"),
        ("mapping.values", {"Temp": "$.t"}, "mapping.values: 'Temp' does not match"),
        ("mapping.values", {"temp": {"unit": "°C"}}, "mapping.values.temp.path: is required"),
        ("mapping.metric", "temperature", "mapping.value: is required with mapping.metric"),
        ("mapping.cursor", ..., "mapping.cursor: is required"),
        ("mapping.location", {"lat": "$.lat"}, "mapping.location.lon: is required"),
        ("retries", -1, "retries: -1 is less than the minimum of 0"),
        ("backoff_seconds", "1s", "backoff_seconds: '1s' is not of type 'number'"),
    ],
)
def test_errors_name_the_field(dotted: str, value: Any, problem: str) -> None:
    document = example_document()
    change(document, dotted, value)
    with pytest.raises(SpecError) as caught:
        parse_spec(document)
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_a_full_spec_needs_no_cursor() -> None:
    document = example_document()
    document["mode"] = "full"
    del document["source"]["cursor_param"]
    del document["mapping"]["cursor"]
    assert parse_spec(document).mode == "full"


def test_every_problem_is_reported_at_once() -> None:
    document = example_document()
    del document["owner"]
    del document["mapping"]["device_id"]
    document["retries"] = "many"
    with pytest.raises(SpecError) as caught:
        parse_spec(document)
    assert [line.split(":")[0] for line in caught.value.problems] == [
        "mapping.device_id",
        "owner",
        "retries",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("token: ${NOT_SET_ANYWHERE}", "NOT_SET_ANYWHERE is not set"),
        ("- a list", "(top level): ['a list'] is not of type 'object'"),
    ],
)
def test_unusable_files(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=re.escape(problem)):
        load_spec(path, environ={})


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"\xff\xfename: x\n")
    with pytest.raises(SpecError, match="not UTF-8 text"):
        load_spec(path, environ={})
