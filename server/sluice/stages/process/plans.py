"""Plans: what a reading with a given template needs in order to pass.

A template holds every field of a reading but its value and its time (only whether the
time is set; see ``_wire.c``). Whatever the value and time, a reading with a valid template
passes exactly when its value, once converted, is finite and within bounds, and its time is
within the time bounds; and it is then rewritten the same way. So the static checks
(device id, metric, unit, tags, location) and the decisions about enrichment run once per
template, not once per reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sluice.core.config.checks import ChecksConfig
from sluice.stages.process.names import Names
from sluice.stages.process.units import Affine
from sluice.v1.ingest_pb2 import Location, Reading

if TYPE_CHECKING:
    from sluice.core._wire import PlanSpec

TIME, VALUE, UNIT, LOCATION, GEOHASH, SITE = 2, 4, 6, 7, 8, 9
"""Field numbers of a Reading that a plan may rewrite."""


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


def wire_plan(plan: Plan) -> PlanSpec:
    """``plan`` as the C screen applies it: the fields to drop, and the fields to append
    (the converted value and the stamped time it encodes itself)."""
    drop = 0
    appended = Reading()
    if plan.formula is not None:
        drop |= 1 << VALUE
    if plan.unit is not None:
        drop |= 1 << UNIT
        appended.unit = plan.unit
    if plan.stamp:
        drop |= 1 << TIME
    if plan.fill is not None:
        drop |= 1 << LOCATION
        appended.location.CopyFrom(Location(lat=plan.fill[0], lon=plan.fill[1]))
    if plan.geohash is not None:
        drop |= 1 << GEOHASH
        appended.geohash = plan.geohash
    if plan.site is not None:
        drop |= 1 << SITE
        appended.site = plan.site
    return (plan.low, plan.high, plan.formula, drop, appended.SerializeToString(), plan.stamp)
