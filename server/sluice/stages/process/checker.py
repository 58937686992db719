"""The per-reading checks and transforms: the hot path of the server.

Checks run in this order and a reading gets the first failing one's reason: device_id,
metric, value finite, unit known, value in range (after conversion), time, tags, location.
Only a reading that passes them all is transformed: time scaled to ns (or the receipt time
when unset), value and unit converted to the canonical unit, geohash computed from the
location (or the registry's), site set from the registry. A rejected reading is left
exactly as the client sent it.

Speed: a batch walked in C (``_wire.c``) is screened there. Each reading's template (every
field but its value and time) gets a plan once (``plans.py``), and the C screen proves a
reading fine from its value and time alone, writing the plan's rewrites as it copies it out.
Only the readings it cannot prove fine (suspects: most of them faulty) are parsed and go
through the full loop below, and the C code joins their verdicts into the output.

A batch upb had to parse (an unusual encoding) goes through the full loop reading by
reading, transformed in place. That loop binds every config value to a local, reads a field
once and writes it only when its new value differs (which is also how a change is known).
Names and geohashes are cached (``names.py``); the unit-detection ladder runs only for
timestamps that are not already in ns; tags are iterated only when there are any. Fault
messages are built only on failure (``faults.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

from sluice.core._wire import Templates, WireBatch
from sluice.core.batch import ReadingFault
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.stages.process.faults import Faults
from sluice.stages.process.names import Names
from sluice.stages.process.plans import plan_for, wire_plan
from sluice.stages.process.registry import RegisteredDevice
from sluice.stages.process.timestamps import MICROS_BELOW, normalise_time
from sluice.stages.process.units import Affine
from sluice.v1.ingest_pb2 import Reading, ReadingBatch

Outcome = tuple[list[ReadingFault], int, bool]
"""The faults in index order, how many readings passed, whether a passing one was rewritten."""
Checked = tuple[list[ReadingFault], int, bool, bytes | None]
"""An ``Outcome``, and the accepted readings as a ReadingBatch (None: the batch as sent)."""

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
CACHE_LIMIT: Final = 65_536
"""Templates the plan table holds before it starts over."""

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
        self._templates = Templates(CACHE_LIMIT)

    def use_registry(self, registry: Mapping[str, RegisteredDevice]) -> None:
        """Enrich from ``registry`` from now on."""
        self._names.use_registry(registry)
        self._templates.clear()

    def check(self, batch: WireBatch | ReadingBatch, now_unix_nano: int) -> Checked:
        """Check and transform the readings of ``batch`` against the receipt time
        ``now_unix_nano`` (a parsed batch is transformed in place).

        Returns the faults in index order, how many readings passed, whether any passing
        reading was rewritten, and the accepted readings encoded (None when that is the
        batch exactly as sent).
        """
        if isinstance(batch, WireBatch):
            return self._check_wire(batch, now_unix_nano)
        faults, accepted, changed = self.check_message(batch, now_unix_nano)
        if not faults and not changed:
            return faults, accepted, changed, None
        kept = ReadingBatch()
        kept.CopyFrom(batch)
        readings = kept.readings
        for fault in reversed(faults):
            del readings[fault.index]
        return faults, accepted, changed, kept.SerializeToString()

    def check_message(self, message: ReadingBatch, now_unix_nano: int) -> Outcome:
        """Check and transform the readings of ``message`` in place, one by one."""
        oldest, newest = self._bounds(now_unix_nano)
        faults, accepted, changed = self._check_each(
            enumerate(message.readings), now_unix_nano, oldest, newest
        )
        return faults, accepted, bool(changed)

    def _bounds(self, now_unix_nano: int) -> tuple[int, int]:
        # Clamped to int64 so that an accepted time always fits time_unix_nano.
        oldest = max(now_unix_nano - self._max_age_ns, INT64_MIN)
        newest = min(now_unix_nano + self._max_skew_ns, INT64_MAX)
        return oldest, newest

    def _check_wire(self, batch: WireBatch, now_unix_nano: int) -> Checked:
        oldest, newest = self._bounds(now_unix_nano)
        lowest = max(oldest, self._time_floor)
        templates = self._templates
        suspects, unknown, rewritten = templates.screen(batch, lowest, newest, now_unix_nano)
        if unknown:
            names, checks = self._names, self._checks
            for template in set(unknown):
                plan = plan_for(template, names, checks)
                templates.add(template, None if plan is None else wire_plan(plan))
            suspects, _, rewritten = templates.screen(batch, lowest, newest, now_unix_nano)
        count = batch.count
        if not suspects and not rewritten:
            return [], count, False, None
        faults: list[ReadingFault] = []
        edits: dict[int, bytes | None] = {}
        if suspects:
            readings = [(index, Reading.FromString(batch.reading(index))) for index in suspects]
            faults, _, changed = self._check_each(readings, now_unix_nano, oldest, newest)
            for fault in faults:
                edits[fault.index] = None
            by_index = dict(readings)
            for index in changed:
                edits[index] = by_index[index].SerializeToString()
            rewritten = rewritten or bool(changed)
        if not faults and not rewritten:
            return [], count, False, None
        return faults, count - len(faults), rewritten, batch.assemble(edits)

    def _check_each(
        self,
        readings: Iterable[tuple[int, Reading]],
        now_unix_nano: int,
        oldest: int,
        newest: int,
    ) -> tuple[list[ReadingFault], int, list[int]]:
        """Check and transform ``(index, reading)`` pairs, in index order, in place.

        Returns the faults, how many passed, and the indices of the rewritten ones.
        """
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
        rewritten: list[int] = []

        for index, reading in readings:
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
                time = normalise_time(sent_time, now_unix_nano, auto_time)
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
            changed = False
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
            if changed:
                rewritten.append(index)
        return faults, accepted, rewritten
