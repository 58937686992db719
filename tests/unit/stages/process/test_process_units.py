"""The unit table: canonical units per metric, overrides, and the accepted spellings."""

from __future__ import annotations

import pytest

from sluice.stages.process.units import METRIC_UNITS, UNITS, UnitTable


def test_every_spelling_names_exactly_one_unit() -> None:
    spellings = [spelling for unit in UNITS for spelling in (unit.symbol, *unit.aliases)]
    assert len(spellings) == len(set(spellings))


def test_every_built_in_canonical_unit_is_a_base_unit_of_the_table() -> None:
    identity = (0.0, 1.0, 1.0, 0.0)
    bases = {unit.symbol for unit in UNITS if unit.to_base == identity}
    assert set(METRIC_UNITS.values()) <= bases


@pytest.mark.parametrize(
    ("overrides", "metric", "canonical"),
    [
        ({}, "temperature", "°C"),
        ({}, "pressure", "Pa"),
        ({}, "humidity", "%"),
        ({}, "rpm", None),
        ({"pressure": "hPa"}, "pressure", "hPa"),
        ({"temperature": "fahrenheit"}, "temperature", "°F"),
        ({"co2": "ppm"}, "co2", "ppm"),
        ({"co2": "ppm"}, "temperature", "°C"),
        ({"temperature": ""}, "temperature", None),
    ],
)
def test_the_canonical_unit_comes_from_the_table_and_its_overrides(
    overrides: dict[str, str], metric: str, canonical: str | None
) -> None:
    assert UnitTable(overrides).canonical_unit(metric) == canonical


def test_a_metric_without_a_canonical_unit_has_no_conversions() -> None:
    assert UnitTable().conversions("rpm") is None


def test_the_accepted_spellings_are_the_quantitys_units_and_the_empty_unit() -> None:
    conversions = UnitTable().conversions("humidity")
    assert conversions is not None
    assert sorted(conversions) == ["", "%", "fraction", "percent"]
    assert conversions["%"] is None
    assert conversions[""] is None
    assert conversions["fraction"] == (0.0, 100.0, 1.0, -0.0)
