"""The unit table: which unit each metric is stored in, and how other units convert to it.

Every conversion is an exact affine formula ``(value + pre) * num / den + post`` with the
defining constants (°F: ``(v - 32) * 5 / 9``; psi: one pound-force over one square inch),
so textbook values come out exact: 212 °F is 100.0 °C, 1013.25 hPa is 101325.0 Pa.
Symbols are case-sensitive (``mW`` is not ``MW``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

Affine = tuple[float, float, float, float]
"""``(pre, num, den, post)``: the converted value is ``(value + pre) * num / den + post``."""

IDENTITY: Final[Affine] = (0.0, 1.0, 1.0, 0.0)

_POUND_FORCE_N: Final = 0.45359237 * 9.80665  # exact by definition: 4.4482216152605 N
_SQUARE_INCH_M2: Final = 0.0254 * 0.0254  # exact by definition: 0.00064516 m²


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit: its symbol, the quantity it measures and how it converts to that quantity's
    base unit (the unit whose formula is the identity)."""

    symbol: str
    quantity: str
    to_base: Affine = IDENTITY
    aliases: tuple[str, ...] = ()


UNITS: Final[tuple[Unit, ...]] = (
    Unit("°C", "temperature", aliases=("C", "degC", "celsius")),
    Unit("°F", "temperature", (-32.0, 5.0, 9.0, 0.0), ("F", "degF", "fahrenheit")),
    Unit("K", "temperature", (-273.15, 1.0, 1.0, 0.0), ("kelvin",)),
    Unit("Pa", "pressure", aliases=("pascal",)),
    Unit("hPa", "pressure", (0.0, 100.0, 1.0, 0.0)),
    Unit("mbar", "pressure", (0.0, 100.0, 1.0, 0.0)),
    Unit("kPa", "pressure", (0.0, 1000.0, 1.0, 0.0)),
    Unit("bar", "pressure", (0.0, 100_000.0, 1.0, 0.0)),
    Unit("psi", "pressure", (0.0, _POUND_FORCE_N, _SQUARE_INCH_M2, 0.0)),
    Unit("%", "ratio", aliases=("percent",)),
    Unit("fraction", "ratio", (0.0, 100.0, 1.0, 0.0)),
    Unit("V", "voltage", aliases=("volt",)),
    Unit("mV", "voltage", (0.0, 1.0, 1000.0, 0.0)),
    Unit("kV", "voltage", (0.0, 1000.0, 1.0, 0.0)),
    Unit("A", "current", aliases=("ampere",)),
    Unit("mA", "current", (0.0, 1.0, 1000.0, 0.0)),
    Unit("W", "power", aliases=("watt",)),
    Unit("mW", "power", (0.0, 1.0, 1000.0, 0.0)),
    Unit("kW", "power", (0.0, 1000.0, 1.0, 0.0)),
    Unit("Hz", "frequency", aliases=("hertz",)),
    Unit("kHz", "frequency", (0.0, 1000.0, 1.0, 0.0)),
)

METRIC_UNITS: Final[Mapping[str, str]] = {
    "temperature": "°C",
    "pressure": "Pa",
    "humidity": "%",
    "voltage": "V",
    "current": "A",
    "power": "W",
    "frequency": "Hz",
}
"""The built-in metric -> canonical unit symbol entries."""


def _by_spelling() -> dict[str, Unit]:
    spellings: dict[str, Unit] = {}
    for unit in UNITS:
        for spelling in (unit.symbol, *unit.aliases):
            spellings[spelling] = unit
    return spellings


_SPELLINGS: Final = _by_spelling()


def _compose(source: Unit, target: Unit) -> Affine | None:
    """The formula from ``source`` to ``target`` (same quantity), or None for the identity."""
    if source is target:
        return None
    pre, num, den, _ = source.to_base
    t_pre, t_num, t_den, _ = target.to_base
    # base = (v + pre) * num / den and base = (t + t_pre) * t_num / t_den, solved for t.
    return (pre, num * t_den, den * t_num, -t_pre)


class UnitTable:
    """The metric -> canonical unit table, with overrides from ``transforms.canonical_units``.

    An override names any symbol or alias in ``UNITS``; a symbol the table does not know
    becomes a unit of its own, with no conversions (only itself and "" are accepted); an
    empty symbol removes a built-in entry, so that metric's unit is kept as sent.
    """

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._canonical = {**METRIC_UNITS, **(overrides or {})}

    def canonical_unit(self, metric: str) -> str | None:
        """The symbol ``metric`` is stored in, or None when it has no canonical unit."""
        wanted = self._canonical.get(metric)
        if not wanted:
            return None
        unit = _SPELLINGS.get(wanted)
        return wanted if unit is None else unit.symbol

    def conversions(self, metric: str) -> dict[str, Affine | None] | None:
        """Every unit spelling accepted for ``metric``, mapped to its formula to the canonical
        unit (None for "no arithmetic"). The empty unit means "already canonical". Returns
        None when the metric has no canonical unit, so any unit is kept as sent."""
        symbol = self.canonical_unit(metric)
        if symbol is None:
            return None
        target = _SPELLINGS.get(symbol)
        if target is None:
            return {"": None, symbol: None}
        table: dict[str, Affine | None] = {"": None}
        for spelling, unit in _SPELLINGS.items():
            if unit.quantity == target.quantity:
                table[spelling] = _compose(unit, target)
        return table
