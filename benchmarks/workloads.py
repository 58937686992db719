"""The two pinned benchmark workloads, as pre-encoded batches.

- ``plain``: 1,000 devices, 2 tags each, no location, canonical units, 0.5% invalid.
- ``rich``: 1,000 devices, 3 tags, 20% of devices with a location (static per device), 10% of
  readings in a non-canonical unit, 2% invalid.

A device has one metric and static tags; each reading takes a random device, a fresh value
and a time near now. Invalid readings are broken in one of four ways, in turn, each caught
by the server's default checks: a NaN value, a metric name that breaks the pattern, a time
older than ``max_age_s`` (7 days), or a device id that breaks the pattern. Everything is
seeded, so a run is repeatable.

A batch is sent as ``header(seq) + body``: the body (the readings, field 3) is encoded once,
and the header (seq, source_id, session_id) is a few bytes built per send, so a load
generator pays nothing per reading.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sluice.v1.ingest_pb2 import Reading, ReadingBatch

DEVICES: Final = 1_000
Metric = tuple[str, str, tuple[float, float], str, Callable[[float], float]]
METRICS: Final[tuple[Metric, ...]] = (
    # metric, canonical unit, (low, high) of generated values, non-canonical unit and formula
    ("temperature", "°C", (-20.0, 40.0), "°F", lambda c: c * 1.8 + 32.0),
    ("humidity", "%", (5.0, 95.0), "fraction", lambda p: p / 100.0),
    ("pressure", "Pa", (97_000.0, 104_000.0), "kPa", lambda pa: pa / 1000.0),
    ("voltage", "V", (3.0, 240.0), "mV", lambda v: v * 1000.0),
)
TOO_OLD_NS: Final = 8 * 24 * 3600 * 10**9
"""How old a deliberately stale reading is: past the default ``checks.max_age_s`` (7 days)."""
INVALID_KINDS: Final = ("nan", "bad_metric", "too_old", "bad_device_id")
BAD_DEVICE_ID: Final = "bad device id!"
"""Each breaks a check of the server's default configuration."""


@dataclass(frozen=True, slots=True)
class Workload:
    """What the readings of a workload look like."""

    name: str
    tags: int
    located_share: float
    foreign_unit_share: float
    invalid_share: float


WORKLOADS: Final = {
    "plain": Workload(
        "plain", tags=2, located_share=0.0, foreign_unit_share=0.0, invalid_share=0.005
    ),
    "rich": Workload("rich", tags=3, located_share=0.2, foreign_unit_share=0.1, invalid_share=0.02),
}


@dataclass(frozen=True, slots=True)
class _Device:
    device_id: str
    metric: int
    tags: dict[str, str]
    location: tuple[float, float] | None


def _devices(workload: Workload, rng: random.Random) -> list[_Device]:
    devices = []
    for number in range(DEVICES):
        tags = {"model": f"model-{number % 7}", "fw": f"1.{number % 5}.0"}
        if workload.tags > 2:
            tags["zone"] = f"zone-{number % 11}"
        location = None
        if rng.random() < workload.located_share:
            location = (round(rng.uniform(-60, 60), 5), round(rng.uniform(-170, 170), 5))
        devices.append(_Device(f"dev-{number:05d}", number % len(METRICS), tags, location))
    return devices


class BatchFactory:
    """Encodes batch bodies of one workload, deterministically from ``seed``."""

    def __init__(self, workload: Workload, seed: int = 1) -> None:
        self.workload = workload
        self._rng = random.Random(seed)
        self._devices = _devices(workload, self._rng)
        self._invalid = 0

    def reading(self, now_ns: int) -> Reading:
        """One reading of a random device, invalid with the workload's probability."""
        rng = self._rng
        device = self._devices[rng.randrange(DEVICES)]
        metric, unit, (low, high), foreign, convert = METRICS[device.metric]
        value = round(rng.uniform(low, high), 2)
        if rng.random() < self.workload.foreign_unit_share:
            value, unit = convert(value), foreign
        reading = Reading(
            device_id=device.device_id,
            metric=metric,
            value=value,
            unit=unit,
            time_unix_nano=now_ns - rng.randrange(1_000_000_000),
            tags=device.tags,
        )
        if device.location is not None:
            reading.location.lat, reading.location.lon = device.location
        if rng.random() < self.workload.invalid_share:
            self._break(reading, now_ns)
        return reading

    def _break(self, reading: Reading, now_ns: int) -> None:
        kind = INVALID_KINDS[self._invalid % len(INVALID_KINDS)]
        self._invalid += 1
        if kind == "nan":
            reading.value = float("nan")
        elif kind == "bad_metric":
            reading.metric = "Temperature!"
        elif kind == "too_old":
            reading.time_unix_nano = now_ns - TOO_OLD_NS
        else:
            reading.device_id = BAD_DEVICE_ID

    def body(self, size: int, now_ns: int | None = None) -> bytes:
        """The encoded readings (field 3) of one batch of ``size`` readings."""
        now = time.time_ns() if now_ns is None else now_ns
        batch = ReadingBatch(readings=[self.reading(now) for _ in range(size)])
        return batch.SerializeToString()

    def json_body(self, size: int) -> bytes:
        """One ``POST /v1/ingest`` body of ``size`` readings. Times are left out (the receipt
        time is used), and a NaN, which JSON cannot carry, fails as a bad metric name instead."""
        readings = []
        for reading in ReadingBatch.FromString(self.body(size)).readings:
            item: dict[str, object] = {
                "device_id": reading.device_id,
                "metric": reading.metric if math.isfinite(reading.value) else "Temperature!",
                "value": reading.value if math.isfinite(reading.value) else 0.0,
                "unit": reading.unit,
                "tags": dict(reading.tags),
            }
            if reading.HasField("location"):
                item["location"] = {"lat": reading.location.lat, "lon": reading.location.lon}
            readings.append(item)
        return json.dumps({"source_id": "h2load", "readings": readings}).encode()

    def bodies(self, count: int, size: int) -> list[bytes]:
        """``count`` distinct batch bodies of ``size`` readings each."""
        now = time.time_ns()
        return [self.body(size, now) for _ in range(count)]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class BatchHeader:
    """Encodes the per-send fields of a ReadingBatch for one session: seq, source, session."""

    def __init__(self, source_id: str, session_id: str) -> None:
        source = source_id.encode()
        session = session_id.encode()
        self._ids = (
            b"\x12" + _varint(len(source)) + source + b"\x22" + _varint(len(session)) + session
        )

    def encode(self, seq: int, body: bytes) -> bytes:
        """The wire bytes of batch ``seq`` with readings ``body``."""
        return b"\x08" + _varint(seq) + self._ids + body
