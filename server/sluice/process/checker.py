"""The per-reading checks and transforms, in one loop: the hot path of the server.

Checks run in this order and a reading gets the first failing one's reason: device_id,
metric, value finite, unit known, value in range (after conversion), time, tags, location.
Only a reading that passes them all is transformed, in place: time scaled to ns (or the
receipt time when unset), value and unit converted to the canonical unit, geohash computed
from the location (or the registry's), site set from the registry. A rejected reading is
left exactly as the client sent it.

Speed: one loop with every config value bound to a local; a field is read once and written
only when its new value differs (which is also how ``changed`` is known). Device ids and
metric names are validated once and cached in bounded dicts, together with what the
registry and the unit table say about them, so a known name costs one dict lookup and no
regex. Time bounds are computed once per batch; the unit-detection ladder runs only for
timestamps that are not already in ns; tags are iterated only when there are any;
geohashes are cached per (lat, lon). Fault messages are built only on failure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Final

from pygeohash import encode

from sluice import reasons
from sluice.batch import ReadingFault
from sluice.process import messages
from sluice.process.config import ChecksConfig, TransformsConfig
from sluice.process.registry import UNREGISTERED, RegisteredDevice
from sluice.process.timestamps import MICROS_BELOW, to_unix_nano, unit_of
from sluice.process.units import Affine, UnitTable
from sluice.v1.ingest_pb2 import Reading

CACHE_LIMIT: Final = 65_536
"""Entries each cache (device ids, metric names, geohashes) holds before it starts over."""

MetricPlan = tuple[str, dict[str, Affine | None] | None, float, float]
"""What a valid metric needs: canonical unit ("" for none), unit spellings -> formula
(None when units are kept as sent), and the inclusive range in the canonical unit."""

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

_UNKNOWN_UNIT: Final[Affine] = (math.nan, math.nan, math.nan, math.nan)


def _nanoseconds(seconds: float) -> int:
    """``seconds`` in ns; anything beyond the int64 range (infinity too) is 2**64."""
    return 2**64 if seconds >= 2**64 / 1e9 else int(seconds * 1e9)


def _compile(pattern: str, key: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{key}: {pattern!r} is not a valid regular expression: {exc}") from None


class ReadingChecker:
    """Checks and transforms the readings of one batch at a time; holds the caches."""

    def __init__(self, checks: ChecksConfig, transforms: TransformsConfig) -> None:
        self._checks = checks
        self._device_id_match = _compile(checks.device_id_pattern, "checks.device_id_pattern")
        self._metric_match = _compile(checks.metric_pattern, "checks.metric_pattern")
        self._units = UnitTable(transforms.canonical_units) if transforms.convert_units else None
        self._precision = transforms.geohash_precision
        self._max_age_ns = _nanoseconds(checks.max_age_s)
        self._max_skew_ns = _nanoseconds(checks.max_skew_s)
        self._auto_time = checks.timestamp_units == "auto"
        self._time_floor = MICROS_BELOW if self._auto_time else 1
        self._registry: Mapping[str, RegisteredDevice] = {}
        self._devices: dict[str, RegisteredDevice] = {}
        self._plans: dict[str, MetricPlan] = {}
        self._geohashes: dict[tuple[float, float], str] = {}

    def use_registry(self, registry: Mapping[str, RegisteredDevice]) -> None:
        """Enrich from ``registry`` from now on."""
        self._registry = registry
        self._devices.clear()

    def check(
        self, readings: Sequence[Reading], now_unix_nano: int
    ) -> tuple[list[ReadingFault], int, bool]:
        """Check and transform ``readings`` in place against the receipt time ``now_unix_nano``.

        Returns the faults in index order, how many readings passed, and whether any
        passing reading was rewritten.
        """
        devices = self._devices
        plans = self._plans
        geohashes = self._geohashes
        auto_time = self._auto_time
        time_floor = self._time_floor
        # Clamped to int64 so that an accepted time always fits time_unix_nano.
        oldest = max(now_unix_nano - self._max_age_ns, INT64_MIN)
        newest = min(now_unix_nano + self._max_skew_ns, INT64_MAX)
        max_tags = self._checks.max_tags
        key_max = self._checks.tag_key_max_length
        value_max = self._checks.tag_value_max_length
        faults: list[ReadingFault] = []
        fault = faults.append
        accepted = 0
        changed = False

        for index, reading in enumerate(readings):
            device_id = reading.device_id
            device = devices.get(device_id)
            if device is None:
                device = self._admit_device(device_id)
                if device is None:
                    fault(ReadingFault(index, reasons.DEVICE_ID_INVALID, self._bad_id(device_id)))
                    continue

            metric = reading.metric
            plan = plans.get(metric)
            if plan is None:
                plan = self._admit_metric(metric)
                if plan is None:
                    fault(ReadingFault(index, reasons.METRIC_INVALID, self._bad_metric(metric)))
                    continue

            value = reading.value
            if value - value != 0.0:
                fault(self._not_finite(index, reading, None))
                continue
            canonical, units, low, high = plan
            rewrite_unit = False
            if units is not None:
                unit = reading.unit
                if unit != canonical:
                    affine = units.get(unit, _UNKNOWN_UNIT)
                    if affine is not None:
                        if affine is _UNKNOWN_UNIT:
                            fault(self._unit_unknown(index, reading, plan))
                            continue
                        pre, num, den, post = affine
                        value = (value + pre) * num / den + post
                        if value - value != 0.0:
                            fault(self._not_finite(index, reading, canonical))
                            continue
                    rewrite_unit = True
            if not low <= value <= high:
                fault(self._out_of_range(index, reading, value, plan))
                continue

            sent_time = reading.time_unix_nano
            time = sent_time
            if sent_time < time_floor:
                time = to_unix_nano(sent_time, now_unix_nano, auto_time)
            if time < oldest:
                fault(self._too_old(index, sent_time, now_unix_nano - time))
                continue
            if time > newest:
                fault(self._in_future(index, sent_time, time - now_unix_nano))
                continue

            tags = reading.tags
            tag_count = len(tags)
            if tag_count:
                if tag_count > max_tags:
                    message = messages.too_many_tags(tag_count, max_tags)
                    fault(ReadingFault(index, reasons.TAGS_TOO_MANY, message))
                    continue
                bad_tag = None
                for key in tags:  # upb's items() is several times slower than this
                    tag_value = tags[key]
                    if not key or len(key) > key_max or len(tag_value) > value_max:
                        bad_tag = messages.tag_problem(key, tag_value, key_max, value_max)
                        break
                if bad_tag is not None:
                    fault(ReadingFault(index, reasons.TAG_INVALID, bad_tag))
                    continue

            fill = None
            if reading.HasField("location"):
                location = reading.location
                lat = location.lat
                lon = location.lon
                if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                    message = messages.location_invalid(lat, lon)
                    fault(ReadingFault(index, reasons.LOCATION_INVALID, message))
                    continue
                geohash = geohashes.get((lat, lon))
                if geohash is None:
                    geohash = self._geohash(lat, lon)
            else:
                fill = device.location
                geohash = device.geohash

            accepted += 1
            if time != sent_time:
                reading.time_unix_nano = time
                changed = True
            if rewrite_unit:
                reading.unit = canonical
                reading.value = value
                changed = True
            if fill is not None:
                location = reading.location
                location.lat, location.lon = fill
                changed = True
            if reading.geohash != geohash:
                reading.geohash = geohash
                changed = True
            if reading.site != device.site:
                reading.site = device.site
                changed = True
        return faults, accepted, changed

    def _admit_device(self, device_id: str) -> RegisteredDevice | None:
        """Validate a device id seen for the first time and cache its registry entry."""
        if len(device_id) > self._checks.device_id_max_length:
            return None
        if self._device_id_match.fullmatch(device_id) is None:
            return None
        if len(self._devices) >= CACHE_LIMIT:
            self._devices.clear()
        device = self._registry.get(device_id, UNREGISTERED)
        self._devices[device_id] = device
        return device

    def _admit_metric(self, metric: str) -> MetricPlan | None:
        """Validate a metric name seen for the first time and cache its plan."""
        if len(metric) > self._checks.metric_max_length:
            return None
        if self._metric_match.fullmatch(metric) is None:
            return None
        canonical = self._units.canonical_unit(metric) if self._units else None
        units = self._units.conversions(metric) if self._units else None
        bounds = self._checks.ranges.get(metric)
        low, high = (bounds.min, bounds.max) if bounds else (-math.inf, math.inf)
        if len(self._plans) >= CACHE_LIMIT:
            self._plans.clear()
        plan = (canonical or "", units, low, high)
        self._plans[metric] = plan
        return plan

    def _geohash(self, lat: float, lon: float) -> str:
        if len(self._geohashes) >= CACHE_LIMIT:
            self._geohashes.clear()
        geohash = encode(lat, lon, self._precision)
        self._geohashes[(lat, lon)] = geohash
        return geohash

    def _bad_id(self, device_id: str) -> str:
        checks = self._checks
        return messages.name_problem(
            "device_id", device_id, checks.device_id_max_length, checks.device_id_pattern
        )

    def _bad_metric(self, metric: str) -> str:
        checks = self._checks
        return messages.name_problem(
            "metric", metric, checks.metric_max_length, checks.metric_pattern
        )

    def _not_finite(self, index: int, reading: Reading, converted_to: str | None) -> ReadingFault:
        message = messages.not_finite(reading.value, reading.unit, converted_to)
        return ReadingFault(index, reasons.VALUE_NOT_FINITE, message)

    def _unit_unknown(self, index: int, reading: Reading, plan: MetricPlan) -> ReadingFault:
        canonical, units, _, _ = plan
        message = messages.unit_unknown(reading.unit, reading.metric, canonical, units or ())
        return ReadingFault(index, reasons.UNIT_UNKNOWN, message)

    def _out_of_range(
        self, index: int, reading: Reading, value: float, plan: MetricPlan
    ) -> ReadingFault:
        canonical, _, low, high = plan
        message = messages.out_of_range(
            reading.metric, reading.value, reading.unit, value, canonical or None, low, high
        )
        return ReadingFault(index, reasons.VALUE_OUT_OF_RANGE, message)

    def _too_old(self, index: int, sent_time: int, age_ns: int) -> ReadingFault:
        unit = unit_of(sent_time, self._auto_time)
        message = messages.too_old(sent_time, unit, age_ns, self._checks.max_age_s)
        return ReadingFault(index, reasons.TIME_TOO_OLD, message)

    def _in_future(self, index: int, sent_time: int, ahead_ns: int) -> ReadingFault:
        unit = unit_of(sent_time, self._auto_time)
        message = messages.in_future(sent_time, unit, ahead_ns, self._checks.max_skew_s)
        return ReadingFault(index, reasons.TIME_IN_FUTURE, message)
