"""Simulated devices and the readings they produce.

Each device measures temperature (a random walk), humidity and pressure, and reports them in
units of its own: °C, °F or K; % or a fraction; Pa, hPa, kPa or bar. Some devices have a
fixed location. Every device has 2–3 tags (model, firmware, and for some a zone).
"""

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sluice.v1.ingest_pb2 import Location, Reading

METRICS: Final = ("temperature", "humidity", "pressure")

TEMPERATURE_UNITS: Final[dict[str, Callable[[float], float]]] = {
    "°C": lambda c: c,
    "°F": lambda c: c * 9.0 / 5.0 + 32.0,
    "K": lambda c: c + 273.15,
}
"""Temperature symbols, each with its conversion from °C."""
HUMIDITY_UNITS: Final[dict[str, Callable[[float], float]]] = {
    "%": lambda pct: pct,
    "fraction": lambda pct: pct / 100.0,
}
"""Relative humidity symbols, each with its conversion from %."""
PRESSURE_UNITS: Final[dict[str, Callable[[float], float]]] = {
    "Pa": lambda pa: pa,
    "hPa": lambda pa: pa / 100.0,
    "kPa": lambda pa: pa / 1000.0,
    "bar": lambda pa: pa / 100_000.0,
}
"""Pressure symbols, each with its conversion from Pa."""

TEMPERATURE_RANGE_C: Final = (-30.0, 45.0)
HUMIDITY_RANGE_PCT: Final = (5.0, 95.0)
PRESSURE_RANGE_PA: Final = (97_000.0, 104_000.0)

MODELS: Final = ("bme280", "sht31", "th-200", "ws-9")
FIRMWARE: Final = ("1.4.2", "1.5.0", "2.0.1", "2.1.0-rc1")
ZONES: Final = ("north", "south", "east", "west", "roof", "basement")
SITES: Final = ((52.52, 13.40), (48.86, 2.35), (40.71, -74.01), (35.68, 139.69), (-33.87, 151.21))
"""Centres (lat, lon) that located devices are scattered around."""
LOCATED_SHARE: Final = 0.6
ZONED_SHARE: Final = 0.5

INVALID_KINDS: Final = ("nan_value", "bad_device_id", "bad_latitude")
"""How a deliberately invalid reading is broken: NaN value, a device id with spaces and
punctuation, or a latitude outside [-90, 90]."""
BAD_DEVICE_ID: Final = "bad device id!"
BAD_LATITUDE: Final = 123.4


@dataclass(slots=True)
class Device:
    """One simulated device: identity, units it reports in, and the state of its sensors."""

    device_id: str
    tags: dict[str, str]
    location: Location | None
    temperature_unit: str
    humidity_unit: str
    pressure_unit: str
    celsius: float
    humidity_pct: float
    pressure_pa: float
    next_metric: int = field(default=0)


def make_devices(count: int, rng: random.Random, prefix: str = "sensor") -> list[Device]:
    """``count`` devices with ids ``{prefix}-000000``… and random units, tags and places."""
    devices = []
    for number in range(count):
        tags = {"model": rng.choice(MODELS), "firmware": rng.choice(FIRMWARE)}
        if rng.random() < ZONED_SHARE:
            tags["zone"] = rng.choice(ZONES)
        location = None
        if rng.random() < LOCATED_SHARE:
            lat, lon = rng.choice(SITES)
            location = Location(
                lat=lat + rng.uniform(-0.05, 0.05), lon=lon + rng.uniform(-0.05, 0.05)
            )
        devices.append(
            Device(
                device_id=f"{prefix}-{number:06d}",
                tags=tags,
                location=location,
                temperature_unit=rng.choice(list(TEMPERATURE_UNITS)),
                humidity_unit=rng.choice(list(HUMIDITY_UNITS)),
                pressure_unit=rng.choice(list(PRESSURE_UNITS)),
                celsius=rng.uniform(10.0, 25.0),
                humidity_pct=rng.uniform(30.0, 70.0),
                pressure_pa=rng.uniform(100_000.0, 102_500.0),
            )
        )
    return devices


def _walk(value: float, step: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return min(high, max(low, value + step))


class ReadingFactory:
    """Makes readings round-robin over ``devices``; each device cycles through ``METRICS``.

    With ``invalid_fraction`` > 0, that share of readings (on average) is broken on purpose in
    one of the ``INVALID_KINDS`` ways. ``made`` and ``invalid_made`` count what was produced.
    """

    def __init__(
        self, devices: list[Device], rng: random.Random, invalid_fraction: float = 0.0
    ) -> None:
        if not devices:
            raise ValueError("a ReadingFactory needs at least one device")
        if not 0.0 <= invalid_fraction <= 1.0:
            raise ValueError("invalid_fraction must be in [0, 1]")
        self._devices = devices
        self._rng = rng
        self._invalid_fraction = invalid_fraction
        self._next_device = 0
        self.made = 0
        self.invalid_made = 0

    def make(self, count: int, now_ns: int | None = None) -> list[Reading]:
        """``count`` readings stamped ``now_ns`` (default: the current time)."""
        stamp = time.time_ns() if now_ns is None else now_ns
        devices = self._devices
        rng = self._rng
        gauss = rng.gauss
        invalid_fraction = self._invalid_fraction
        readings = []
        index = self._next_device
        for _ in range(count):
            device = devices[index]
            index = (index + 1) % len(devices)
            metric = METRICS[device.next_metric]
            device.next_metric = (device.next_metric + 1) % len(METRICS)
            if metric == "temperature":
                device.celsius = _walk(device.celsius, gauss(0.0, 0.05), TEMPERATURE_RANGE_C)
                unit = device.temperature_unit
                value = round(TEMPERATURE_UNITS[unit](device.celsius), 2)
            elif metric == "humidity":
                device.humidity_pct = _walk(
                    device.humidity_pct, gauss(0.0, 0.2), HUMIDITY_RANGE_PCT
                )
                unit = device.humidity_unit
                value = round(HUMIDITY_UNITS[unit](device.humidity_pct), 4)
            else:
                device.pressure_pa = _walk(device.pressure_pa, gauss(0.0, 5.0), PRESSURE_RANGE_PA)
                unit = device.pressure_unit
                value = round(PRESSURE_UNITS[unit](device.pressure_pa), 6)
            reading = Reading(
                device_id=device.device_id,
                time_unix_nano=stamp,
                metric=metric,
                value=value,
                unit=unit,
                tags=device.tags,
            )
            if device.location is not None:
                reading.location.CopyFrom(device.location)
            if invalid_fraction and rng.random() < invalid_fraction:
                self._break(reading)
            readings.append(reading)
        self._next_device = index
        self.made += count
        return readings

    def _break(self, reading: Reading) -> None:
        self.invalid_made += 1
        kind = self._rng.choice(INVALID_KINDS)
        if kind == "nan_value":
            reading.value = math.nan
        elif kind == "bad_device_id":
            reading.device_id = BAD_DEVICE_ID
        else:
            reading.location.lat = BAD_LATITUDE
