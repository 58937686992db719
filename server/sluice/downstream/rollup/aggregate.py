"""Roll-up arithmetic: readings into per (tenant, device, metric, bucket) aggregates.

A bucket is a whole hour (or minute) of event time, named by its start in Unix seconds.
Aggregates merge associatively, so the store adds a transaction's aggregates to what it
holds, and a late reading lands in its own bucket whenever it arrives.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sluice.v1.ingest_pb2 import ReadingBatch

HOUR_S: Final = 3600
MINUTE_S: Final = 60
NS_PER_S: Final = 1_000_000_000
_LARGEST: Final = sys.float_info.max

BucketKey = tuple[str, str, str, int]
"""(tenant, device_id, metric, bucket start in Unix seconds)."""


def bucket_start(time_unix_nano: int, width_s: int) -> int:
    """The start, in Unix seconds, of the ``width_s``-second bucket holding the time."""
    width_ns = width_s * NS_PER_S
    return (time_unix_nano // width_ns) * width_s


@dataclass(slots=True)
class Aggregate:
    """count, sum, min, max, and the first and last event time of some readings."""

    count: int
    total: float
    minimum: float
    maximum: float
    first_ns: int
    last_ns: int

    @classmethod
    def of(cls, value: float, time_unix_nano: int) -> Aggregate:
        """The aggregate of one reading."""
        return cls(1, value, value, value, time_unix_nano, time_unix_nano)

    @property
    def mean(self) -> float:
        """The mean value."""
        return self.total / self.count

    def add(self, value: float, time_unix_nano: int) -> None:
        """Fold one more reading in."""
        self.count += 1
        self.total += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        if time_unix_nano < self.first_ns:
            self.first_ns = time_unix_nano
        if time_unix_nano > self.last_ns:
            self.last_ns = time_unix_nano

    def merge(self, other: Aggregate) -> None:
        """Fold another aggregate (of other readings) in."""
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.first_ns = min(self.first_ns, other.first_ns)
        self.last_ns = max(self.last_ns, other.last_ns)


class Rollup:
    """The aggregates of some batches, one table per bucket width (hour, and maybe minute).

    Readings whose value is not finite, or whose device_id or metric holds a NUL (PostgreSQL
    cannot store one), are left out and counted in ``skipped``: the server's checks refuse
    both, so only a foreign producer can send one.
    """

    def __init__(self, widths: Iterable[int] = (HOUR_S,)) -> None:
        self.tables: dict[int, dict[BucketKey, Aggregate]] = {width: {} for width in widths}
        self.readings = 0
        self.skipped = 0

    def add_batch(self, tenant: str, batch: ReadingBatch) -> None:
        """Fold every reading of ``batch``, which belongs to ``tenant``, into each table."""
        readings = [
            r
            for r in batch.readings
            if -_LARGEST <= r.value <= _LARGEST and "\x00" not in r.device_id + r.metric
        ]
        self.skipped += len(batch.readings) - len(readings)
        self.readings += len(readings)
        for width, table in self.tables.items():
            # bucket_start() inlined: this loop runs once per reading and width.
            width_ns = width * NS_PER_S
            for reading in readings:
                value = reading.value
                at = reading.time_unix_nano
                key = (tenant, reading.device_id, reading.metric, (at // width_ns) * width)
                aggregate = table.get(key)
                if aggregate is None:
                    table[key] = Aggregate.of(value, at)
                else:
                    aggregate.add(value, at)

    def rows(self, width: int) -> list[tuple[BucketKey, Aggregate]]:
        """The ``width`` table's aggregates, sorted by key (a fixed lock order for stores)."""
        return sorted(self.tables[width].items())
