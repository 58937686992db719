"""The faults of readings that fail a check, each with its reason code and its message.

These run only when a check fails, never for a reading that passes.
"""

from __future__ import annotations

from sluice.core import reasons
from sluice.core.batch import ReadingFault
from sluice.core.config.checks import ChecksConfig
from sluice.stages.process import messages
from sluice.stages.process.timestamps import unit_of
from sluice.stages.process.units import Affine
from sluice.v1.ingest_pb2 import Reading

MetricPlan = tuple[str, dict[str, Affine | None] | None, float, float]
"""What a valid metric needs: canonical unit ("" for none), unit spellings -> formula
(None when units are kept as sent), and the inclusive range in the canonical unit."""


class Faults:
    """Builds the ``ReadingFault`` of each failed check from the config's limits."""

    def __init__(self, checks: ChecksConfig) -> None:
        self._checks = checks
        self._auto_time = checks.timestamp_units == "auto"

    def bad_id(self, index: int, device_id: str) -> ReadingFault:
        checks = self._checks
        message = messages.name_problem(
            "device_id", device_id, checks.device_id_max_length, checks.device_id_pattern
        )
        return ReadingFault(index, reasons.DEVICE_ID_INVALID, message)

    def bad_metric(self, index: int, metric: str) -> ReadingFault:
        checks = self._checks
        message = messages.name_problem(
            "metric", metric, checks.metric_max_length, checks.metric_pattern
        )
        return ReadingFault(index, reasons.METRIC_INVALID, message)

    def not_finite(self, index: int, reading: Reading, converted_to: str | None) -> ReadingFault:
        message = messages.not_finite(reading.value, reading.unit, converted_to)
        return ReadingFault(index, reasons.VALUE_NOT_FINITE, message)

    def unit_unknown(self, index: int, reading: Reading, plan: MetricPlan) -> ReadingFault:
        canonical, units, _, _ = plan
        message = messages.unit_unknown(reading.unit, reading.metric, canonical, units or ())
        return ReadingFault(index, reasons.UNIT_UNKNOWN, message)

    def out_of_range(
        self, index: int, reading: Reading, value: float, plan: MetricPlan
    ) -> ReadingFault:
        canonical, _, low, high = plan
        message = messages.out_of_range(
            reading.metric, reading.value, reading.unit, value, canonical or None, low, high
        )
        return ReadingFault(index, reasons.VALUE_OUT_OF_RANGE, message)

    def too_old(self, index: int, sent_time: int, age_ns: int) -> ReadingFault:
        unit = unit_of(sent_time, self._auto_time)
        message = messages.too_old(sent_time, unit, age_ns, self._checks.max_age_s)
        return ReadingFault(index, reasons.TIME_TOO_OLD, message)

    def in_future(self, index: int, sent_time: int, ahead_ns: int) -> ReadingFault:
        unit = unit_of(sent_time, self._auto_time)
        message = messages.in_future(sent_time, unit, ahead_ns, self._checks.max_skew_s)
        return ReadingFault(index, reasons.TIME_IN_FUTURE, message)

    def too_many_tags(self, index: int, count: int) -> ReadingFault:
        message = messages.too_many_tags(count, self._checks.max_tags)
        return ReadingFault(index, reasons.TAGS_TOO_MANY, message)

    def bad_tag(self, index: int, key: str, value: str) -> ReadingFault:
        checks = self._checks
        message = messages.tag_problem(
            key, value, checks.tag_key_max_length, checks.tag_value_max_length
        )
        return ReadingFault(index, reasons.TAG_INVALID, message)

    def bad_location(self, index: int, lat: float, lon: float) -> ReadingFault:
        return ReadingFault(index, reasons.LOCATION_INVALID, messages.location_invalid(lat, lon))
