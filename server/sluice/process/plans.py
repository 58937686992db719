"""Plans: what a reading with a given template (see ``columns.py``) needs in order to pass.

A template holds every field of a reading but its value and its time (only whether the
time is set). Whatever the value and time, a reading with a valid template passes exactly
when its value, once converted, is finite and within bounds, and its time is within the time
bounds; and it is then rewritten the same way. So the static checks (device id, metric,
unit, tags, location) and the decisions about enrichment run once per template, not once
per reading.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice.process.config import ChecksConfig
from sluice.process.names import Names
from sluice.process.units import Affine
from sluice.v1.ingest_pb2 import Reading


@dataclass(frozen=True, slots=True)
class Plan:
    """How a reading with a given template passes, and what to write into it."""

    low: float
    """Smallest value accepted, in the canonical unit."""
    high: float
    """Largest value accepted, in the canonical unit."""
    formula: Affine | None = None
    """Converts the value to the canonical unit (None: no arithmetic)."""
    unit: str | None = None
    """The canonical unit to write, when the reading's differs."""
    stamp: bool = False
    """True when the time is not set, so the receipt time is written."""
    fill: tuple[float, float] | None = None
    """The registry's location to write."""
    geohash: str | None = None
    """The geohash to write, when the reading's differs."""
    site: str | None = None
    """The site to write, when the reading's differs."""

    @property
    def plain(self) -> bool:
        """True when a passing reading is left exactly as sent."""
        return (
            self.unit is None
            and not self.stamp
            and self.fill is None
            and self.geohash is None
            and self.site is None
        )


def plan_for(template: bytes, names: Names, checks: ChecksConfig) -> Plan | None:
    """The plan of readings with ``template``; None when they fail a static check (their
    faults are then found reading by reading)."""
    shape = Reading.FromString(template)  # its time is 1 when set; it has no value
    device = names.device(shape.device_id)
    metric = names.metric(shape.metric)
    if device is None or metric is None:
        return None
    canonical, units, low, high = metric
    formula = None
    unit = None
    if units is not None and shape.unit != canonical:
        if shape.unit not in units:
            return None
        formula, unit = units[shape.unit], canonical
    tags = shape.tags
    if len(tags) > checks.max_tags:
        return None
    key_max, value_max = checks.tag_key_max_length, checks.tag_value_max_length
    for key, value in tags.items():
        if not key or len(key) > key_max or len(value) > value_max:
            return None
    fill = None
    if shape.HasField("location"):
        lat, lon = shape.location.lat, shape.location.lon
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return None
        geohash = names.geohash(lat, lon)
    else:
        fill, geohash = device.location, device.geohash
    return Plan(
        low,
        high,
        formula,
        unit,
        stamp=not shape.time_unix_nano,
        fill=fill,
        geohash=geohash if shape.geohash != geohash else None,
        site=device.site if shape.site != device.site else None,
    )
