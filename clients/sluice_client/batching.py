"""Cutting a stream of readings into batches by count and serialized bytes."""

import time
from collections.abc import Callable, Sequence

from sluice.v1.ingest_pb2 import Reading

DEFAULT_MAX_READINGS = 1000
DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_LINGER_S = 0.1

_NOTHING_DUE: Sequence[list[Reading]] = ()


def _varint_len(n: int) -> int:
    return (n.bit_length() + 6) // 7 or 1


def reading_field_bytes(reading: Reading) -> int:
    """Bytes ``reading`` adds to an encoded ReadingBatch: tag, length prefix and message."""
    size = reading.ByteSize()
    # Readings are almost always under 128 bytes: a one-byte tag and a one-byte length.
    return size + 2 if size < 128 else size + 1 + _varint_len(size)


class BatchBuilder:
    """Collects readings until a batch is due: ``max_readings`` reached or ``max_bytes`` filled.

    The linger limit is the caller's: ``started_at`` says when the oldest buffered reading
    arrived. A single reading larger than ``max_bytes`` becomes a batch on its own.
    """

    def __init__(
        self,
        max_readings: int = DEFAULT_MAX_READINGS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_readings <= 0 or max_bytes <= 0:
            raise ValueError("max_readings and max_bytes must be positive")
        self._max_readings = max_readings
        self._max_bytes = max_bytes
        self._clock = clock
        self._readings: list[Reading] = []
        self._bytes = 0
        self.started_at: float | None = None
        """Clock time of the oldest buffered reading; None while empty."""

    def __len__(self) -> int:
        return len(self._readings)

    @property
    def buffered_bytes(self) -> int:
        """Encoded size of the buffered readings."""
        return self._bytes

    def add(self, reading: Reading) -> Sequence[list[Reading]]:
        """Buffers ``reading``; returns the batches now due, oldest first (usually none)."""
        size = reading_field_bytes(reading)
        due: list[list[Reading]] | None = None
        if self._readings and self._bytes + size > self._max_bytes:
            due = [self.take()]
        if not self._readings:
            self.started_at = self._clock()
        self._readings.append(reading)
        self._bytes += size
        if len(self._readings) >= self._max_readings or self._bytes >= self._max_bytes:
            if due is None:
                return [self.take()]
            due.append(self.take())
        return due or _NOTHING_DUE

    def take(self) -> list[Reading]:
        """Removes and returns everything buffered."""
        readings = self._readings
        self._readings = []
        self._bytes = 0
        self.started_at = None
        return readings
