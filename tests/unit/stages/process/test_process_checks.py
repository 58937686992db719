"""Every per-reading check: what passes, what fails with which reason code and message."""

from __future__ import annotations

import math
from typing import Any

import pytest
from process_helpers import NOW, Harness, valid_reading

from sluice.core import reasons
from sluice.core.batch import ReadingFault
from sluice.core.config.base import ConfigError
from sluice.core.config.checks import ChecksConfig
from sluice.core.config.settings import load_settings

CHECKS = ChecksConfig(
    device_id_max_length=16,
    metric_max_length=16,
    max_age_s=3600,
    max_skew_s=60,
    max_tags=3,
    tag_key_max_length=8,
    tag_value_max_length=10,
    ranges={"temperature": {"min": -40, "max": 85}, "humidity": {"min": 0, "max": 100}},
)
HOUR_NS = 3600 * 10**9
MINUTE_NS = 60 * 10**9
LONG_ID = "a" * 100

VALID: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("device_id at the length limit", {"device_id": "a" * 16}),
    ("device_id with every allowed punctuation", {"device_id": "s1/dev_2:x@y.z-3"}),
    ("metric at the length limit", {"metric": "m" * 16, "unit": ""}),
    ("metric with dots and digits", {"metric": "air.temp_2", "unit": "whatever"}),
    ("value at the range minimum", {"value": -40.0}),
    ("value at the range maximum", {"value": 85.0}),
    ("value in range once converted", {"value": 185.0, "unit": "°F"}),
    ("fraction in range once converted", {"metric": "humidity", "value": 1.0, "unit": "fraction"}),
    ("value without a range", {"metric": "pressure", "value": 1e12, "unit": "Pa"}),
    ("empty unit on a metric with a canonical unit", {"unit": ""}),
    ("time exactly max_age old", {"time_unix_nano": NOW - HOUR_NS}),
    ("time exactly max_skew ahead", {"time_unix_nano": NOW + MINUTE_NS}),
    ("time not set", {"time_unix_nano": 0}),
    ("tags at the count limit", {"tags": {"a": "1", "b": "2", "c": "3"}}),
    ("tag key at the length limit", {"tags": {"k" * 8: "v"}}),
    ("tag value at the length limit", {"tags": {"k": "v" * 10}}),
    ("empty tag value", {"tags": {"k": ""}}),
    ("location at the upper corner", {"location": {"lat": 90.0, "lon": 180.0}}),
    ("location at the lower corner", {"location": {"lat": -90.0, "lon": -180.0}}),
    ("location at the origin", {"location": {"lat": 0.0, "lon": 0.0}}),
]

INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "device_id over the length limit",
        {"device_id": "a" * 17},
        reasons.DEVICE_ID_INVALID,
        'device_id: "aaaaaaaaaaaaaaaaa" is 17 characters, the limit is 16',
    ),
    (
        "device_id echo cut to 64 characters",
        {"device_id": LONG_ID},
        reasons.DEVICE_ID_INVALID,
        f'device_id: "{"a" * 64}..." is 100 characters, the limit is 16',
    ),
    (
        "device_id with a space",
        {"device_id": "a b"},
        reasons.DEVICE_ID_INVALID,
        'device_id: "a b" does not match [A-Za-z0-9][A-Za-z0-9._:/@-]*',
    ),
    (
        "device_id starting with punctuation",
        {"device_id": "-dev"},
        reasons.DEVICE_ID_INVALID,
        'device_id: "-dev" does not match [A-Za-z0-9][A-Za-z0-9._:/@-]*',
    ),
    (
        "device_id matching only a prefix",
        {"device_id": "dev\n"},
        reasons.DEVICE_ID_INVALID,
        'device_id: "dev\\n" does not match [A-Za-z0-9][A-Za-z0-9._:/@-]*',
    ),
    ("device_id empty", {"device_id": ""}, reasons.DEVICE_ID_INVALID, "device_id: is empty"),
    (
        "metric with an upper-case letter",
        {"metric": "Temperature"},
        reasons.METRIC_INVALID,
        'metric: "Temperature" does not match [a-z][a-z0-9_.]*',
    ),
    (
        "metric over the length limit",
        {"metric": "m" * 17},
        reasons.METRIC_INVALID,
        'metric: "mmmmmmmmmmmmmmmmm" is 17 characters, the limit is 16',
    ),
    ("metric empty", {"metric": ""}, reasons.METRIC_INVALID, "metric: is empty"),
    ("value NaN", {"value": math.nan}, reasons.VALUE_NOT_FINITE, "value: nan is not finite"),
    ("value +inf", {"value": math.inf}, reasons.VALUE_NOT_FINITE, "value: inf is not finite"),
    ("value -inf", {"value": -math.inf}, reasons.VALUE_NOT_FINITE, "value: -inf is not finite"),
    (
        "value overflowing on conversion",
        {"metric": "pressure", "value": 1e308, "unit": "psi"},
        reasons.VALUE_NOT_FINITE,
        "value: 1e+308 psi is not finite once converted to Pa",
    ),
    (
        "value just above the range",
        {"value": 85.5},
        reasons.VALUE_OUT_OF_RANGE,
        "value: 85.5 is outside [-40.0, 85.0] for temperature",
    ),
    (
        "value just below the range",
        {"value": -40.25, "unit": ""},
        reasons.VALUE_OUT_OF_RANGE,
        "value: -40.25 is outside [-40.0, 85.0] for temperature",
    ),
    (
        "value above the range once converted",
        {"value": 186.0, "unit": "°F"},
        reasons.VALUE_OUT_OF_RANGE,
        "value: 186.0 °F is 85.55555555555556 °C, outside [-40.0, 85.0] for temperature",
    ),
    (
        "fraction above the range once converted",
        {"metric": "humidity", "value": 1.5, "unit": "fraction"},
        reasons.VALUE_OUT_OF_RANGE,
        "value: 1.5 fraction is 150.0 %, outside [0.0, 100.0] for humidity",
    ),
    (
        "unit unknown for the metric",
        {"unit": "furlong"},
        reasons.UNIT_UNKNOWN,
        'unit: "furlong" is not a known unit of temperature (stored in °C); '
        "known units: C, F, K, celsius, degC, degF, fahrenheit, kelvin, °C, °F",
    ),
    (
        "unit of another quantity",
        {"unit": "hPa"},
        reasons.UNIT_UNKNOWN,
        'unit: "hPa" is not a known unit of temperature (stored in °C); '
        "known units: C, F, K, celsius, degC, degF, fahrenheit, kelvin, °C, °F",
    ),
    (
        "unit spelled in the wrong case",
        {"metric": "voltage", "value": 3.3, "unit": "v"},
        reasons.UNIT_UNKNOWN,
        'unit: "v" is not a known unit of voltage (stored in V); known units: V, kV, mV, volt',
    ),
    (
        "time one ns older than max_age",
        {"time_unix_nano": NOW - HOUR_NS - 1},
        reasons.TIME_TOO_OLD,
        f"time_unix_nano: {NOW - HOUR_NS - 1} (read as ns) is 3600.000 s old, "
        "the limit is checks.max_age_s=3600",
    ),
    (
        "time in seconds, two hours old",
        {"time_unix_nano": NOW // 10**9 - 7200},
        reasons.TIME_TOO_OLD,
        f"time_unix_nano: {NOW // 10**9 - 7200} (read as s) is 7200.123 s old, "
        "the limit is checks.max_age_s=3600",
    ),
    (
        "time negative",
        {"time_unix_nano": -1},
        reasons.TIME_TOO_OLD,
        f"time_unix_nano: -1 (read as s) is {(NOW + 10**9) / 1e9:.3f} s old, "
        "the limit is checks.max_age_s=3600",
    ),
    (
        "time one ns further ahead than max_skew",
        {"time_unix_nano": NOW + MINUTE_NS + 1},
        reasons.TIME_IN_FUTURE,
        f"time_unix_nano: {NOW + MINUTE_NS + 1} (read as ns) is 60.000 s ahead, "
        "the limit is checks.max_skew_s=60",
    ),
    (
        "time in milliseconds, an hour ahead",
        {"time_unix_nano": NOW // 10**6 + 3_600_000},
        reasons.TIME_IN_FUTURE,
        f"time_unix_nano: {NOW // 10**6 + 3_600_000} (read as ms) is 3600.000 s ahead, "
        "the limit is checks.max_skew_s=60",
    ),
    (
        "one tag more than max_tags",
        {"tags": {"a": "1", "b": "2", "c": "3", "d": "4"}},
        reasons.TAGS_TOO_MANY,
        "tags: 4 tags, the limit is 3",
    ),
    ("tag key empty", {"tags": {"": "v"}}, reasons.TAG_INVALID, "tags: a key is empty"),
    (
        "tag key over the length limit",
        {"tags": {"ok": "v", "k" * 9: "v"}},
        reasons.TAG_INVALID,
        'tags["kkkkkkkkk"]: key is 9 characters, the limit is 8',
    ),
    (
        "tag value over the length limit",
        {"tags": {"k": "v" * 11}},
        reasons.TAG_INVALID,
        'tags["k"]: value is 11 characters, the limit is 10',
    ),
    (
        "latitude above 90",
        {"location": {"lat": 90.0001, "lon": 0.0}},
        reasons.LOCATION_INVALID,
        "location: lat 90.0001 is outside [-90, 90]",
    ),
    (
        "latitude below -90",
        {"location": {"lat": -91.0, "lon": 0.0}},
        reasons.LOCATION_INVALID,
        "location: lat -91.0 is outside [-90, 90]",
    ),
    (
        "longitude below -180",
        {"location": {"lat": 0.0, "lon": -180.5}},
        reasons.LOCATION_INVALID,
        "location: lon -180.5 is outside [-180, 180]",
    ),
    (
        "longitude above 180",
        {"location": {"lat": 0.0, "lon": 180.25}},
        reasons.LOCATION_INVALID,
        "location: lon 180.25 is outside [-180, 180]",
    ),
    (
        "latitude NaN",
        {"location": {"lat": math.nan, "lon": 0.0}},
        reasons.LOCATION_INVALID,
        "location: lat nan is outside [-90, 90]",
    ),
    (
        "longitude infinite",
        {"location": {"lat": 0.0, "lon": math.inf}},
        reasons.LOCATION_INVALID,
        "location: lon inf is outside [-180, 180]",
    ),
]

FIRST_FAILURE_WINS: list[tuple[str, dict[str, Any], str]] = [
    ("device_id before value", {"device_id": "a b", "value": math.nan}, reasons.DEVICE_ID_INVALID),
    ("metric before tags", {"metric": "X", "tags": {"": ""}}, reasons.METRIC_INVALID),
    ("value before unit", {"value": math.nan, "unit": "furlong"}, reasons.VALUE_NOT_FINITE),
    ("unit before range", {"value": 1e6, "unit": "furlong"}, reasons.UNIT_UNKNOWN),
    ("range before time", {"value": 1e6, "time_unix_nano": 1}, reasons.VALUE_OUT_OF_RANGE),
    ("time before tags", {"time_unix_nano": 1, "tags": {"": ""}}, reasons.TIME_TOO_OLD),
    (
        "tags before location",
        {"tags": {"": ""}, "location": {"lat": 99.0, "lon": 0.0}},
        reasons.TAG_INVALID,
    ),
]


@pytest.mark.parametrize(("fields"), [case[1] for case in VALID], ids=[c[0] for c in VALID])
async def test_a_valid_reading_is_accepted(harness: Harness, fields: dict[str, Any]) -> None:
    harness.build(CHECKS)
    batch = await harness.run(valid_reading(**fields))
    assert batch.faults == []
    assert batch.accepted == 1


@pytest.mark.parametrize(
    ("fields", "reason", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
async def test_an_invalid_reading_gets_its_reason_and_a_message_naming_the_field(
    harness: Harness, fields: dict[str, Any], reason: str, message: str
) -> None:
    harness.build(CHECKS)
    batch = await harness.run(valid_reading(**fields))
    assert batch.faults == [ReadingFault(index=0, reason=reason, message=message)]
    assert batch.accepted == 0


def test_every_reading_reason_code_has_an_invalid_case() -> None:
    assert {case[2] for case in INVALID} == set(reasons.READING_REASONS)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [c[1:] for c in FIRST_FAILURE_WINS],
    ids=[c[0] for c in FIRST_FAILURE_WINS],
)
async def test_a_reading_gets_the_first_failing_checks_reason(
    harness: Harness, fields: dict[str, Any], reason: str
) -> None:
    harness.build(CHECKS)
    batch = await harness.run(valid_reading(**fields))
    assert [fault.reason for fault in batch.faults] == [reason]


async def test_a_cached_name_is_checked_against_the_same_rules_every_time(
    harness: Harness,
) -> None:
    harness.build(CHECKS)
    readings = [valid_reading(device_id=d) for d in ("ok-1", "a b", "ok-1", "a b")]
    batch = await harness.run(*readings)
    second = await harness.run(*(valid_reading(device_id=d) for d in ("a b", "ok-1")))
    assert [fault.index for fault in batch.faults] == [1, 3]
    assert [fault.index for fault in second.faults] == [0]


async def test_patterns_and_limits_come_from_the_config(harness: Harness) -> None:
    harness.build(ChecksConfig(device_id_pattern=r"gw-\d+", metric_pattern=r"[A-Z]+"))
    batch = await harness.run(
        valid_reading(device_id="gw-12", metric="TEMP", unit="x"),
        valid_reading(device_id="dev-1", metric="TEMP"),
        valid_reading(device_id="gw-1", metric="temp"),
    )
    assert [(fault.index, fault.reason) for fault in batch.faults] == [
        (1, reasons.DEVICE_ID_INVALID),
        (2, reasons.METRIC_INVALID),
    ]
    assert batch.faults[0].message == 'device_id: "dev-1" does not match gw-\\d+'


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("device_id_pattern", "checks.device_id_pattern"),
        ("metric_pattern", "checks.metric_pattern"),
    ],
)
def test_a_pattern_that_does_not_compile_is_refused_naming_its_key(field: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}: .*'\[a-' is not a valid regular expression"):
        load_settings(None, {f"SLUICE__CHECKS__{field.upper()}": "[a-"})
