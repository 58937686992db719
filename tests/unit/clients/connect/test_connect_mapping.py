"""Items to readings through JSONPath, and drift counted per mapping field, never fatal."""

from __future__ import annotations

from typing import Any

import pytest
from connect_helpers import observation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice_client.connect import Drift, compile_mapping
from tests.support.json_values import any_json

EXAMPLE_MAPPING: dict[str, Any] = {
    "items": "$.observations[*]",
    "device_id": "$.station.id",
    "timestamp": "$.observed_at",
    "values": {
        "temperature": {"path": "$.temperature", "unit": "$.temperature_unit"},
        "humidity": {"path": "$.humidity", "unit": "%"},
    },
    "tags": {"region": "$.station.region", "provider": "acme"},
    "location": {"lat": "$.station.lat", "lon": "$.station.lon"},
    "cursor": "$.observed_at",
}
NOON = 1_717_243_200_000_000_000


def test_an_item_becomes_one_reading_per_value() -> None:
    result = compile_mapping(EXAMPLE_MAPPING).map_item(observation(5))
    assert not result.drift
    assert result.cursor == "2024-06-01T12:05:00Z"
    temperature, humidity = result.readings
    assert (temperature.metric, temperature.value, temperature.unit) == ("temperature", 25.0, "°C")
    assert (humidity.metric, humidity.value, humidity.unit) == ("humidity", 45.0, "%")
    for reading in result.readings:
        assert reading.device_id == "st-2"
        assert reading.time_unix_nano == NOON + 5 * 60 * 10**9
        assert dict(reading.tags) == {"region": "north", "provider": "acme"}
        assert (reading.location.lat, reading.location.lon) == (48.85, 2.35)


def test_the_single_value_form_and_numbers_as_text() -> None:
    mapping = compile_mapping(
        {"items": "$[*]", "device_id": "$.id", "metric": "$.kind", "value": "$.v", "unit": "V"}
    )
    (reading,) = mapping.map_item({"id": 7, "kind": "voltage", "v": "229.5"}).readings
    assert (reading.device_id, reading.metric, reading.value, reading.unit) == (
        "7",
        "voltage",
        229.5,
        "V",
    )
    assert reading.time_unix_nano == 0, "no timestamp mapping: the server uses receipt time"


def test_items_with_filters() -> None:
    mapping = compile_mapping(dict(EXAMPLE_MAPPING, items="$.observations[?(@.humidity > 41)]"))
    body = {"observations": [observation(0), observation(1), observation(2)]}
    assert [item["humidity"] for item in mapping.items_of(body)] == [42]  # type: ignore[index]


def test_a_renamed_list_is_drift_and_an_empty_one_is_not() -> None:
    mapping = compile_mapping(EXAMPLE_MAPPING)
    assert mapping.items_of({"observations": []}) == []
    with pytest.raises(Drift) as caught:
        mapping.items_of({"results": [observation(1)]})
    assert caught.value.field == "mapping.items"


@pytest.mark.parametrize(
    ("changes", "fields", "metrics"),
    [
        ({"station": {"name": "renamed id"}}, ["mapping.device_id"], []),
        ({"observed_at": ...}, ["mapping.timestamp"], []),
        ({"observed_at": "yesterday"}, ["mapping.timestamp"], []),
        ({"temperature": ...}, ["mapping.values.temperature"], ["humidity"]),
        ({"temperature": "warm"}, ["mapping.values.temperature"], ["humidity"]),
        ({"temperature": True}, ["mapping.values.temperature"], ["humidity"]),
        ({"temperature": 10**400}, ["mapping.values.temperature"], ["humidity"]),
        ({"temperature_unit": ...}, ["mapping.values.temperature.unit"], ["humidity"]),
        (
            {"station": {"id": "s", "lat": 1.0, "lon": 2.0}},
            ["mapping.tags.region"],
            ["temperature", "humidity"],
        ),
        (
            {"station": {"id": "s", "region": "r", "lat": "north"}},
            ["mapping.location.lat"],
            ["temperature", "humidity"],
        ),
    ],
)
def test_drift_is_named_and_skips_only_what_it_must(
    changes: dict[str, Any], fields: list[str], metrics: list[str]
) -> None:
    result = compile_mapping(EXAMPLE_MAPPING).map_item(observation(3, **changes))
    assert [d.field for d in result.drift] == fields
    assert [r.metric for r in result.readings] == metrics
    assert result.skipped == (not metrics)


def test_a_missing_cursor_is_drift_but_the_readings_go() -> None:
    mapping = compile_mapping(dict(EXAMPLE_MAPPING, cursor="$.sequence"))
    result = mapping.map_item(observation(1))
    assert [d.field for d in result.drift] == ["mapping.cursor"]
    assert len(result.readings) == 2
    assert result.cursor is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(sorted(observation(0))), any_json(8), max_size=4))
def test_any_values_give_readings_or_drift(changes: dict[str, Any]) -> None:
    """Whatever an API puts in an item's fields, the mapping never raises."""
    result = compile_mapping(EXAMPLE_MAPPING).map_item(observation(1, **changes))
    for reading in result.readings:
        reading.SerializeToString()
    assert result.readings or result.drift
