"""Transforms of accepted readings: units, time, geohash, and the ``changed`` flag."""

from __future__ import annotations

import math
from typing import Any

import pytest
from process_helpers import NOW, Harness, valid_reading

from sluice.core import reasons
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.stages.process.timestamps import normalise_time as to_unix_nano
from sluice.stages.process.timestamps import unit_of
from tests.support.sinks import readings_after_checks

CONVERSIONS: list[tuple[str, float, str, float, str]] = [
    # metric, value sent, unit sent, value stored, unit stored
    ("temperature", 21.5, "°C", 21.5, "°C"),
    ("temperature", 21.5, "C", 21.5, "°C"),
    ("temperature", 21.5, "degC", 21.5, "°C"),
    ("temperature", 21.5, "celsius", 21.5, "°C"),
    ("temperature", 21.5, "", 21.5, "°C"),
    ("temperature", 212.0, "°F", 100.0, "°C"),
    ("temperature", 98.6, "F", 37.0, "°C"),
    ("temperature", -40.0, "degF", -40.0, "°C"),
    ("temperature", 32.0, "fahrenheit", 0.0, "°C"),
    ("temperature", 373.15, "K", 100.0, "°C"),
    ("temperature", 310.15, "kelvin", 37.0, "°C"),
    ("temperature", 0.0, "K", -273.15, "°C"),
    ("pressure", 101325.0, "Pa", 101325.0, "Pa"),
    ("pressure", 101325.0, "pascal", 101325.0, "Pa"),
    ("pressure", 101325.0, "", 101325.0, "Pa"),
    ("pressure", 1013.25, "hPa", 101325.0, "Pa"),
    ("pressure", 1013.25, "mbar", 101325.0, "Pa"),
    ("pressure", 101.325, "kPa", 101325.0, "Pa"),
    ("pressure", 1.01325, "bar", 101325.0, "Pa"),
    ("pressure", 1.0, "psi", 6894.757293168361, "Pa"),
    ("humidity", 55.0, "%", 55.0, "%"),
    ("humidity", 55.0, "percent", 55.0, "%"),
    ("humidity", 0.5, "fraction", 50.0, "%"),
    ("voltage", 12.0, "volt", 12.0, "V"),
    ("voltage", 3300.0, "mV", 3.3, "V"),
    ("voltage", 0.23, "kV", 230.0, "V"),
    ("current", 1500.0, "mA", 1.5, "A"),
    ("current", 2.0, "ampere", 2.0, "A"),
    ("power", 60.0, "watt", 60.0, "W"),
    ("power", 500.0, "mW", 0.5, "W"),
    ("power", 2.5, "kW", 2500.0, "W"),
    ("frequency", 50.0, "hertz", 50.0, "Hz"),
    ("frequency", 2.4, "kHz", 2400.0, "Hz"),
    ("air.quality", 12.0, "ppm", 12.0, "ppm"),
    ("air.quality", 12.0, "", 12.0, ""),
]


@pytest.mark.parametrize(("metric", "sent", "unit", "value", "canonical"), CONVERSIONS)
async def test_units_are_converted_to_the_metrics_canonical_unit(
    harness: Harness, metric: str, sent: float, unit: str, value: float, canonical: str
) -> None:
    batch = await harness.run(valid_reading(metric=metric, value=sent, unit=unit))
    stored = readings_after_checks(batch)[0]
    assert batch.accepted == 1
    assert (stored.value, stored.unit) == (value, canonical)


OVERRIDES: list[tuple[dict[str, str], str, float, str, float, str]] = [
    ({"pressure": "hPa"}, "pressure", 101325.0, "Pa", 1013.25, "hPa"),
    ({"pressure": "hPa"}, "pressure", 1.0, "bar", 1000.0, "hPa"),
    ({"pressure": "hPa"}, "pressure", 1000.0, "", 1000.0, "hPa"),
    ({"temperature": "°F"}, "temperature", 100.0, "°C", 212.0, "°F"),
    ({"temperature": "degF"}, "temperature", -40.0, "C", -40.0, "°F"),
    ({"air_temp": "°C"}, "air_temp", 212.0, "°F", 100.0, "°C"),
    ({"co2": "ppm"}, "co2", 400.0, "ppm", 400.0, "ppm"),
    ({"co2": "ppm"}, "co2", 400.0, "", 400.0, "ppm"),
]


@pytest.mark.parametrize(("overrides", "metric", "sent", "unit", "value", "canonical"), OVERRIDES)
async def test_canonical_units_config_adds_and_overrides_entries(
    harness: Harness,
    overrides: dict[str, str],
    metric: str,
    sent: float,
    unit: str,
    value: float,
    canonical: str,
) -> None:
    harness.build(transforms=TransformsConfig(canonical_units=overrides))
    batch = await harness.run(valid_reading(metric=metric, value=sent, unit=unit))
    stored = readings_after_checks(batch)[0]
    assert (stored.value, stored.unit) == (value, canonical)


async def test_a_new_canonical_symbol_accepts_only_itself(harness: Harness) -> None:
    harness.build(transforms=TransformsConfig(canonical_units={"co2": "ppm"}))
    batch = await harness.run(valid_reading(metric="co2", value=0.04, unit="%"))
    assert [fault.reason for fault in batch.faults] == [reasons.UNIT_UNKNOWN]
    assert batch.faults[0].message == (
        'unit: "%" is not a known unit of co2 (stored in ppm); known units: ppm'
    )


async def test_without_convert_units_values_and_units_stay_as_sent(harness: Harness) -> None:
    harness.build(transforms=TransformsConfig(convert_units=False))
    batch = await harness.run(
        valid_reading(value=212.0, unit="°F"), valid_reading(value=1.0, unit="furlong")
    )
    assert batch.accepted == 2
    assert [(r.value, r.unit) for r in readings_after_checks(batch)] == [
        (212.0, "°F"),
        (1.0, "furlong"),
    ]
    assert batch.changed is False


DETECTION: list[tuple[int, str, int]] = [
    # sent, unit it is read in, time in ns
    (1, "s", 1_000_000_000),
    (1_700_000_000, "s", 1_700_000_000_000_000_000),
    (10**11 - 1, "s", (10**11 - 1) * 10**9),
    (10**11, "ms", 10**17),
    (1_700_000_000_123, "ms", 1_700_000_000_123_000_000),
    (10**14 - 1, "ms", (10**14 - 1) * 10**6),
    (10**14, "µs", 10**17),
    (1_700_000_000_123_456, "µs", 1_700_000_000_123_456_000),
    (10**17 - 1, "µs", (10**17 - 1) * 1000),
    (10**17, "ns", 10**17),
    (1_700_000_000_123_456_789, "ns", 1_700_000_000_123_456_789),
    (-5, "s", -5_000_000_000),
]


@pytest.mark.parametrize(("sent", "unit", "nanos"), DETECTION)
def test_timestamp_units_are_recognised_by_magnitude(sent: int, unit: str, nanos: int) -> None:
    assert unit_of(sent) == unit
    assert to_unix_nano(sent, receipt_unix_nano=NOW) == nanos


@pytest.mark.parametrize("sent", [1, 10**11, 10**14, -5])
def test_with_ns_units_nothing_is_scaled(sent: int) -> None:
    assert unit_of(sent, auto=False) == "ns"
    assert to_unix_nano(sent, receipt_unix_nano=NOW, auto=False) == sent


@pytest.mark.parametrize("auto", [True, False])
def test_an_unset_time_is_the_receipt_time(auto: bool) -> None:
    assert to_unix_nano(0, receipt_unix_nano=NOW, auto=auto) == NOW


EVENT_NS = 1_699_999_995_123_456_789
STAGE_TIMES: list[tuple[str, int, int]] = [
    ("seconds", EVENT_NS // 10**9, EVENT_NS // 10**9 * 10**9),
    ("milliseconds", EVENT_NS // 10**6, EVENT_NS // 10**6 * 10**6),
    ("microseconds", EVENT_NS // 10**3, EVENT_NS // 10**3 * 10**3),
    ("nanoseconds", EVENT_NS, EVENT_NS),
    ("unset", 0, NOW),
]


@pytest.mark.parametrize(
    ("sent", "stored"), [c[1:] for c in STAGE_TIMES], ids=[c[0] for c in STAGE_TIMES]
)
async def test_the_stage_stores_every_time_in_nanoseconds(
    harness: Harness, sent: int, stored: int
) -> None:
    batch = await harness.run(valid_reading(time_unix_nano=sent))
    assert batch.accepted == 1
    assert readings_after_checks(batch)[0].time_unix_nano == stored


async def test_with_ns_units_a_time_in_seconds_is_too_old(harness: Harness) -> None:
    harness.build(ChecksConfig(timestamp_units="ns"))
    batch = await harness.run(
        valid_reading(time_unix_nano=EVENT_NS // 10**9), valid_reading(time_unix_nano=0)
    )
    assert [(f.index, f.reason) for f in batch.faults] == [(0, reasons.TIME_TOO_OLD)]
    assert readings_after_checks(batch)[1].time_unix_nano == NOW


@pytest.mark.parametrize(
    ("sent", "reason"),
    [(10**11 - 1, reasons.TIME_IN_FUTURE), (-(10**11), reasons.TIME_TOO_OLD)],
)
async def test_an_accepted_time_always_fits_int64(harness: Harness, sent: int, reason: str) -> None:
    # Within these limits a year-5138 time in seconds would pass and overflow int64.
    harness.build(ChecksConfig(max_age_s=1e12, max_skew_s=1e12))
    batch = await harness.run(valid_reading(time_unix_nano=sent))
    assert [f.reason for f in batch.faults] == [reason]


async def test_unbounded_age_and_skew_accept_any_time_that_fits_int64(harness: Harness) -> None:
    harness.build(ChecksConfig(max_age_s=math.inf, max_skew_s=math.inf))
    batch = await harness.run(
        valid_reading(time_unix_nano=1), valid_reading(time_unix_nano=10**11 - 1)
    )
    assert [(f.index, f.reason) for f in batch.faults] == [(1, reasons.TIME_IN_FUTURE)]
    assert readings_after_checks(batch)[0].time_unix_nano == 10**9


GEOHASHES: list[tuple[float, float, int, str]] = [
    (57.64911, 10.40744, 11, "u4pruydqqvj"),
    (42.6, -5.6, 5, "ezs42"),
    (37.8324, 112.5584, 9, "ww8p1r4t8"),
    (-25.382708, -49.265506, 12, "6gkzwgjzn820"),
    (0.0, 0.0, 7, "s000000"),
    (-90.0, -180.0, 4, "0000"),
    (90.0, 180.0, 4, "zzzz"),
]


@pytest.mark.parametrize(("lat", "lon", "precision", "geohash"), GEOHASHES)
async def test_the_geohash_is_computed_from_the_location(
    harness: Harness, lat: float, lon: float, precision: int, geohash: str
) -> None:
    harness.build(transforms=TransformsConfig(geohash_precision=precision))
    location = {"lat": lat, "lon": lon}
    batch = await harness.run(valid_reading(location=location), valid_reading(location=location))
    assert [r.geohash for r in readings_after_checks(batch)] == [geohash, geohash]


async def test_a_client_sent_geohash_is_overwritten_or_cleared(harness: Harness) -> None:
    batch = await harness.run(
        valid_reading(geohash="zzzz", location={"lat": 42.6, "lon": -5.6}),
        valid_reading(geohash="zzzz"),
    )
    assert [r.geohash for r in readings_after_checks(batch)] == ["ezs42e4", ""]
    assert not readings_after_checks(batch)[1].HasField("location")


CHANGED: list[tuple[str, dict[str, Any], bool]] = [
    ("canonical and complete", {}, False),
    ("no canonical unit, unit kept", {"metric": "air.quality", "unit": "ppm"}, False),
    (
        "geohash already right",
        {"location": {"lat": 42.6, "lon": -5.6}, "geohash": "ezs42e4"},
        False,
    ),
    ("unit alias", {"unit": "C"}, True),
    ("empty unit filled in", {"unit": ""}, True),
    ("value converted", {"value": 212.0, "unit": "°F"}, True),
    ("time in seconds", {"time_unix_nano": EVENT_NS // 10**9}, True),
    ("time unset", {"time_unix_nano": 0}, True),
    ("geohash added", {"location": {"lat": 42.6, "lon": -5.6}}, True),
    ("geohash corrected", {"location": {"lat": 42.6, "lon": -5.6}, "geohash": "ezs42e5"}, True),
    ("geohash cleared", {"geohash": "ezs42e4"}, True),
    ("site cleared", {"site": "elsewhere"}, True),
]


@pytest.mark.parametrize(
    ("fields", "changed"), [c[1:] for c in CHANGED], ids=[c[0] for c in CHANGED]
)
async def test_changed_says_whether_an_accepted_reading_was_rewritten(
    harness: Harness, fields: dict[str, Any], changed: bool
) -> None:
    sent = valid_reading(**fields)
    batch = await harness.run(sent)
    assert batch.accepted == 1
    assert batch.changed is changed
    assert (
        readings_after_checks(batch)[0].SerializeToString() != sent.SerializeToString()
    ) is changed


async def test_a_rejected_reading_that_needs_transforms_does_not_set_changed(
    harness: Harness,
) -> None:
    batch = await harness.run(
        valid_reading(),
        valid_reading(device_id="a b", unit="C", time_unix_nano=0, site="x", geohash="y"),
    )
    assert batch.accepted == 1
    assert batch.changed is False
