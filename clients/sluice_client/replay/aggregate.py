"""``--aggregate``: access log requests counted and summed per time window and tag set.

Each window (aligned to the epoch, e.g. every 10 s) and each (host, method, status,
path_template) seen in it gives three readings at the window's start, tagged like the
per-request reading plus ``window`` (``10s``):

- ``http.request.count``: requests;
- ``http.request.bytes_sum``: response bytes (unit ``By``);
- ``http.request.time_sum``: request time in seconds (unit ``s``), when any had one.

A window is emitted once the log's time has passed its end by ``lateness`` (default one
window), so slightly out-of-order lines still count; a line older than that is counted in
``late`` and dropped, never emitted as a second reading for a window already sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sluice.v1.ingest_pb2 import Reading
from sluice_client.replay.accesslog import AccessRecord

COUNT_METRIC: Final = "http.request.count"
BYTES_METRIC: Final = "http.request.bytes_sum"
TIME_METRIC: Final = "http.request.time_sum"
NANOS_PER_SECOND: Final = 1_000_000_000

GroupKey = tuple[int, str, str, int, str]
"""(window start ns, host, method, status, path_template)."""


@dataclass(slots=True)
class _Sums:
    count: int = 0
    bytes_sent: int = 0
    time_s: float = 0.0
    timed: bool = False


def window_label(window_ns: int) -> str:
    """``10s``, ``1m``, ``1h`` or ``1500ms`` for a window length."""
    millis = window_ns // 1_000_000
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


class WindowAggregator:
    """Counts and sums requests per window; ``add``, ``expire`` and ``flush`` return the
    readings of the windows they close."""

    def __init__(self, window_ns: int, lateness_ns: int | None = None) -> None:
        if window_ns < 1_000_000:
            raise ValueError("the aggregation window must be at least 1 ms")
        self._window = window_ns
        self._lateness = window_ns if lateness_ns is None else lateness_ns
        self._label = window_label(window_ns)
        self._groups: dict[GroupKey, _Sums] = {}
        self._closed_before = -(2**63)
        self._watermark = -(2**63)
        self.late = 0
        """Requests dropped because their window had already been emitted."""

    def add(self, record: AccessRecord) -> list[Reading]:
        """Count one request; returns the readings of windows its time closes."""
        start = record.time_unix_nano - record.time_unix_nano % self._window
        if start < self._closed_before:
            self.late += 1
            return []
        key = (start, record.host, record.method, record.status, record.path_template)
        sums = self._groups.get(key)
        if sums is None:
            sums = self._groups[key] = _Sums()
        sums.count += 1
        sums.bytes_sent += record.bytes_sent
        if record.request_time_s is not None:
            sums.time_s += record.request_time_s
            sums.timed = True
        if record.time_unix_nano > self._watermark:
            self._watermark = record.time_unix_nano
            return self.expire(self._watermark)
        return []

    def expire(self, now_unix_nano: int) -> list[Reading]:
        """Close every window that ended more than ``lateness`` before ``now_unix_nano``."""
        # A window [s, s + W) closes once s + W <= now - lateness; s + W is a multiple of W.
        horizon = now_unix_nano - self._lateness
        closed_before = horizon - horizon % self._window
        if closed_before <= self._closed_before:
            return []
        self._closed_before = closed_before
        return self._take(lambda start: start < closed_before)

    def flush(self) -> list[Reading]:
        """Close every window (at the end of the input)."""
        return self._take(lambda start: True)

    def _take(self, due: Callable[[int], bool]) -> list[Reading]:
        keys = [key for key in self._groups if due(key[0])]
        readings: list[Reading] = []
        for key in sorted(keys):
            readings.extend(self._readings(key, self._groups.pop(key)))
        return readings

    def _readings(self, key: GroupKey, sums: _Sums) -> list[Reading]:
        start, host, method, status, path = key
        tags = {
            "host": host,
            "method": method,
            "status": str(status),
            "status_class": f"{status // 100}xx",
            "path_template": path,
            "window": self._label,
        }

        def reading(metric: str, value: float, unit: str) -> Reading:
            return Reading(
                device_id=host,
                time_unix_nano=start,
                metric=metric,
                value=value,
                unit=unit,
                tags=tags,
            )

        result = [
            reading(COUNT_METRIC, sums.count, ""),
            reading(BYTES_METRIC, sums.bytes_sent, "By"),
        ]
        if sums.timed:
            result.append(reading(TIME_METRIC, sums.time_s, "s"))
        return result
