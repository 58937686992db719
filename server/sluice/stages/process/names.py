"""What the checks know about names: valid device ids with their registry entries, valid
metrics with their plans, and geohashes by position, each validated once and cached.

A known name then costs one dict lookup and no regex. Each cache is bounded and starts over
when full.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

from pygeohash import encode

from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.stages.process.faults import MetricPlan
from sluice.stages.process.registry import UNREGISTERED, RegisteredDevice
from sluice.stages.process.units import UnitTable

CACHE_LIMIT: Final = 65_536
"""Entries each cache (device ids, metric names, geohashes) holds before it starts over."""


class Names:
    """Validated device ids and metrics, and computed geohashes."""

    def __init__(self, checks: ChecksConfig, transforms: TransformsConfig) -> None:
        self._checks = checks
        # ChecksConfig has already refused patterns that do not compile.
        self._device_id_match = re.compile(checks.device_id_pattern)
        self._metric_match = re.compile(checks.metric_pattern)
        self._units = UnitTable(transforms.canonical_units) if transforms.convert_units else None
        self._precision = transforms.geohash_precision
        self._registry: Mapping[str, RegisteredDevice] = {}
        self.devices: dict[str, RegisteredDevice] = {}
        """Valid device ids seen so far, with their registry entry (``UNREGISTERED``)."""
        self.plans: dict[str, MetricPlan] = {}
        """Valid metrics seen so far, with their plan."""
        self.geohashes: dict[tuple[float, float], str] = {}
        """Geohashes computed so far, by (lat, lon)."""

    def use_registry(self, registry: Mapping[str, RegisteredDevice]) -> None:
        """Enrich from ``registry`` from now on."""
        self._registry = registry
        self.devices.clear()

    def device(self, device_id: str) -> RegisteredDevice | None:
        """The registry entry of a valid device id, None for an invalid one."""
        device = self.devices.get(device_id)
        if device is not None:
            return device
        if len(device_id) > self._checks.device_id_max_length:
            return None
        if self._device_id_match.fullmatch(device_id) is None:
            return None
        if len(self.devices) >= CACHE_LIMIT:
            self.devices.clear()
        device = self._registry.get(device_id, UNREGISTERED)
        self.devices[device_id] = device
        return device

    def metric(self, metric: str) -> MetricPlan | None:
        """The plan of a valid metric, None for an invalid one."""
        plan = self.plans.get(metric)
        if plan is not None:
            return plan
        if len(metric) > self._checks.metric_max_length:
            return None
        if self._metric_match.fullmatch(metric) is None:
            return None
        canonical = self._units.canonical_unit(metric) if self._units else None
        units = self._units.conversions(metric) if self._units else None
        bounds = self._checks.ranges.get(metric)
        low, high = (bounds.min, bounds.max) if bounds else (-math.inf, math.inf)
        if len(self.plans) >= CACHE_LIMIT:
            self.plans.clear()
        plan = (canonical or "", units, low, high)
        self.plans[metric] = plan
        return plan

    def geohash(self, lat: float, lon: float) -> str:
        """The geohash of (lat, lon) at the configured precision."""
        geohash = self.geohashes.get((lat, lon))
        if geohash is not None:
            return geohash
        if len(self.geohashes) >= CACHE_LIMIT:
            self.geohashes.clear()
        geohash = encode(lat, lon, self._precision)
        self.geohashes[(lat, lon)] = geohash
        return geohash
