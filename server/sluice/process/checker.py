"""The per-reading checks and transforms: the hot path of the server.

Checks run in this order and a reading gets the first failing one's reason: device_id,
metric, value finite, unit known, value in range (after conversion), time, tags, location.
Only a reading that passes them all is transformed, in place: time scaled to ns (or the
receipt time when unset), value and unit converted to the canonical unit, geohash computed
from the location (or the registry's), site set from the registry. A rejected reading is
left exactly as the client sent it.

Speed: a batch is first screened as a whole from its wire bytes (``screen.py``), which
proves most readings fine without touching them one by one. Suspects whose template has a
plan (``plans.py``) only get their value and time checked and the plan's rewrites applied;
the others, or every reading when the screen cannot decide, go through the full loop below.
That loop binds every config value to a local, reads a field once and writes it only when
its new value differs (which is also how ``changed`` is known). Names and geohashes are
cached (``names.py``); the unit-detection ladder runs only for timestamps that are not
already in ns; tags are iterated only when there are any. Fault messages are built only on
failure (``faults.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

from sluice.batch import ReadingFault
from sluice.process.config import ChecksConfig, TransformsConfig
from sluice.process.faults import Faults
from sluice.process.names import Names
from sluice.process.plans import Plan, plan_for
from sluice.process.registry import RegisteredDevice
from sluice.process.screen import BatchScreen
from sluice.process.timestamps import MICROS_BELOW, to_unix_nano
from sluice.process.units import Affine
from sluice.v1.ingest_pb2 import Reading, ReadingBatch

Outcome = tuple[list[ReadingFault], int, bool]
"""The faults in index order, how many readings passed, whether a passing one was rewritten."""

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

_UNKNOWN_UNIT: Final[Affine] = (math.nan, math.nan, math.nan, math.nan)


def _nanoseconds(seconds: float) -> int:
    """``seconds`` in ns; anything beyond the int64 range (infinity too) is 2**64."""
    return 2**64 if seconds >= 2**64 / 1e9 else int(seconds * 1e9)


class ReadingChecker:
    """Checks and transforms the readings of one batch at a time; holds the caches."""

    def __init__(self, checks: ChecksConfig, transforms: TransformsConfig) -> None:
        self._checks = checks
        self._names = Names(checks, transforms)
        self._faults = Faults(checks)
        self._max_age_ns = _nanoseconds(checks.max_age_s)
        self._max_skew_ns = _nanoseconds(checks.max_skew_s)
        self._auto_time = checks.timestamp_units == "auto"
        self._time_floor = MICROS_BELOW if self._auto_time else 1
        self._screen = BatchScreen(lambda template: plan_for(template, self._names, checks))

    def use_registry(self, registry: Mapping[str, RegisteredDevice]) -> None:
        """Enrich from ``registry`` from now on."""
        self._names.use_registry(registry)
        self._screen.forget()

    def check(self, message: ReadingBatch, raw: bytes | None, now_unix_nano: int) -> Outcome:
        """Check and transform the readings of ``message`` in place against the receipt time
        ``now_unix_nano``; ``raw`` is the wire form ``message`` was parsed from, if any.

        Returns the faults in index order, how many readings passed, and whether any
        passing reading was rewritten.
        """
        readings = message.readings
        count = len(readings)
        # Clamped to int64 so that an accepted time always fits time_unix_nano.
        oldest = max(now_unix_nano - self._max_age_ns, INT64_MIN)
        newest = min(now_unix_nano + self._max_skew_ns, INT64_MAX)
        screened = None
        if raw is not None and count:
            screened = self._screen.screen(raw, count, max(oldest, self._time_floor), newest)
        if screened is None:
            return self._check_each(readings, range(count), (), now_unix_nano, oldest, newest)
        suspects, plans = screened
        faults, passed, changed = self._check_each(
            readings, suspects, plans, now_unix_nano, oldest, newest
        )
        return faults, count - len(suspects) + passed, changed

    def _check_each(
        self,
        readings: Sequence[Reading],
        indices: Sequence[int],
        plans: Sequence[Plan | None],
        now_unix_nano: int,
        oldest: int,
        newest: int,
    ) -> Outcome:
        """Check and transform the readings at ``indices`` (ascending). A reading with a
        plan that its value and time meet only gets the plan's rewrites."""
        names = self._names
        devices = names.devices
        metrics = names.plans
        explain = self._faults
        auto_time = self._auto_time
        time_floor = self._time_floor
        max_tags = self._checks.max_tags
        key_max = self._checks.tag_key_max_length
        value_max = self._checks.tag_value_max_length
        faults: list[ReadingFault] = []
        fault = faults.append
        accepted = 0
        changed = False

        for position, index in enumerate(indices):
            reading = readings[index]
            plan = plans[position] if plans else None
            if plan is not None:
                value = reading.value
                if plan.formula is not None:
                    pre, num, den, post = plan.formula
                    value = (value + pre) * num / den + post
                sent_time = reading.time_unix_nano
                time = sent_time
                if sent_time < time_floor:
                    time = to_unix_nano(sent_time, now_unix_nano, auto_time)
                # A NaN fails the range test; an infinity the finiteness test. Either way,
                # the full checks below tell which fault it is.
                if (
                    plan.low <= value <= plan.high
                    and value - value == 0.0
                    and oldest <= time <= newest
                ):
                    accepted += 1
                    changed = _rewrite(reading, plan, value, time, sent_time) or changed
                    continue

            device_id = reading.device_id
            device = devices.get(device_id) or names.device(device_id)
            if device is None:
                fault(explain.bad_id(index, device_id))
                continue

            metric = reading.metric
            metric_plan = metrics.get(metric) or names.metric(metric)
            if metric_plan is None:
                fault(explain.bad_metric(index, metric))
                continue

            value = reading.value
            if value - value != 0.0:
                fault(explain.not_finite(index, reading, None))
                continue
            canonical, units, low, high = metric_plan
            rewrite_unit = False
            if units is not None:
                unit = reading.unit
                if unit != canonical:
                    affine = units.get(unit, _UNKNOWN_UNIT)
                    if affine is not None:
                        if affine is _UNKNOWN_UNIT:
                            fault(explain.unit_unknown(index, reading, metric_plan))
                            continue
                        pre, num, den, post = affine
                        value = (value + pre) * num / den + post
                        if value - value != 0.0:
                            fault(explain.not_finite(index, reading, canonical))
                            continue
                    rewrite_unit = True
            if not low <= value <= high:
                fault(explain.out_of_range(index, reading, value, metric_plan))
                continue

            sent_time = reading.time_unix_nano
            time = sent_time
            if sent_time < time_floor:
                time = to_unix_nano(sent_time, now_unix_nano, auto_time)
            if time < oldest:
                fault(explain.too_old(index, sent_time, now_unix_nano - time))
                continue
            if time > newest:
                fault(explain.in_future(index, sent_time, time - now_unix_nano))
                continue

            tags = reading.tags
            tag_count = len(tags)
            if tag_count:
                if tag_count > max_tags:
                    fault(explain.too_many_tags(index, tag_count))
                    continue
                bad_tag = None
                for key in tags:  # upb's items() is several times slower than this
                    tag_value = tags[key]
                    if not key or len(key) > key_max or len(tag_value) > value_max:
                        bad_tag = explain.bad_tag(index, key, tag_value)
                        break
                if bad_tag is not None:
                    fault(bad_tag)
                    continue

            fill = None
            if reading.HasField("location"):
                location = reading.location
                lat = location.lat
                lon = location.lon
                if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                    fault(explain.bad_location(index, lat, lon))
                    continue
                geohash = names.geohash(lat, lon)
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


def _rewrite(reading: Reading, plan: Plan, value: float, time: int, sent_time: int) -> bool:
    """Apply ``plan`` to a reading that passed with ``value`` and ``time``; True if anything
    was written."""
    changed = False
    if time != sent_time:
        reading.time_unix_nano = time
        changed = True
    if plan.unit is not None:
        reading.unit = plan.unit
        reading.value = value
        changed = True
    if plan.fill is not None:
        location = reading.location
        location.lat, location.lon = plan.fill
        changed = True
    if plan.geohash is not None:
        reading.geohash = plan.geohash
        changed = True
    if plan.site is not None:
        reading.site = plan.site
        changed = True
    return changed
