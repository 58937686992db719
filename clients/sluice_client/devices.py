"""Simulated devices and the readings they produce.

Each device measures temperature, humidity and pressure (each a bounded random walk) and
reports them in units of its own: °C, °F or K; % or a fraction; Pa, hPa, kPa or bar. Some
devices have a fixed location. Every device has 2–3 tags (model, firmware, and for some a
zone).
"""

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from sluice.v1.ingest_pb2 import Location, Reading


@dataclass(frozen=True, slots=True)
class Sensor:
    """One measured quantity, walked in its canonical unit and reported in any of ``units``."""

    metric: str
    units: Mapping[str, tuple[float, float, int]]
    """Symbol -> (scale, offset, decimals): reported = round(canonical * scale + offset)."""
    start: tuple[float, float]
    """Range of a device's first value."""
    bounds: tuple[float, float]
    """The walk stays inside these."""
    step: float
    """Largest change from one reading to the next."""


SENSORS: Final = (
    Sensor(
        "temperature",
        {"°C": (1.0, 0.0, 2), "°F": (1.8, 32.0, 2), "K": (1.0, 273.15, 2)},
        start=(10.0, 25.0),
        bounds=(-30.0, 45.0),
        step=0.1,
    ),
    Sensor(
        "humidity",
        {"%": (1.0, 0.0, 2), "fraction": (0.01, 0.0, 4)},
        start=(30.0, 70.0),
        bounds=(5.0, 95.0),
        step=0.4,
    ),
    Sensor(
        "pressure",
        {"Pa": (1.0, 0.0, 1), "hPa": (0.01, 0.0, 2), "kPa": (0.001, 0.0, 3), "bar": (1e-5, 0.0, 6)},
        start=(100_000.0, 102_500.0),
        bounds=(97_000.0, 104_000.0),
        step=10.0,
    ),
)
METRICS: Final = tuple(sensor.metric for sensor in SENSORS)
UNITS: Final = {sensor.metric: tuple(sensor.units) for sensor in SENSORS}
"""The unit symbols each metric is reported in."""

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
    """One simulated device: identity, the unit of each sensor, and each sensor's value."""

    device_id: str
    tags: dict[str, str]
    location: Location | None
    units: tuple[str, ...]
    """Unit symbol per sensor, in ``SENSORS`` order."""
    values: list[float]
    """Current value per sensor, in its canonical unit."""
    next_sensor: int = 0
    templates: tuple[Reading, ...] = field(default=(), repr=False)
    """Per sensor, a reading with everything but time and value."""
    conversions: tuple[tuple[float, float, int], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        # Copying a prepared reading is several times cheaper than building one with its tags.
        self.templates = tuple(
            Reading(
                device_id=self.device_id,
                metric=sensor.metric,
                unit=unit,
                tags=self.tags,
                location=self.location,
            )
            for sensor, unit in zip(SENSORS, self.units, strict=True)
        )
        self.conversions = tuple(
            sensor.units[unit] for sensor, unit in zip(SENSORS, self.units, strict=True)
        )


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
                units=tuple(rng.choice(list(sensor.units)) for sensor in SENSORS),
                values=[rng.uniform(*sensor.start) for sensor in SENSORS],
            )
        )
    return devices


class ReadingFactory:
    """Makes readings round-robin over ``devices``; each device cycles through ``SENSORS``.

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
        random_ = self._rng.random
        invalid_fraction = self._invalid_fraction
        walks = [(s.step * 2.0, s.step, *s.bounds) for s in SENSORS]
        sensor_count = len(SENSORS)
        readings = []
        index = self._next_device
        for _ in range(count):
            device = devices[index]
            index = (index + 1) % len(devices)
            sensor = device.next_sensor
            device.next_sensor = (sensor + 1) % sensor_count
            width, step, low, high = walks[sensor]
            value = device.values[sensor] + random_() * width - step
            value = low if value < low else high if value > high else value
            device.values[sensor] = value
            scale, offset, decimals = device.conversions[sensor]
            reading = Reading()
            reading.CopyFrom(device.templates[sensor])
            reading.time_unix_nano = stamp
            reading.value = round(value * scale + offset, decimals)
            if invalid_fraction and random_() < invalid_fraction:
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
