"""Streams the readings of log lines to a server with an ``IngestClient``.

A ``Converter`` turns lines into readings: one per line, or windows of several lines
(``--aggregate``). A line the converter cannot use is counted in ``ReplayStats.malformed``
and skipped; blank lines are skipped silently.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from sluice.v1.ingest_pb2 import Reading
from sluice_client.client import IngestClient
from sluice_client.replay.accesslog import AccessLogParser
from sluice_client.replay.aggregate import WindowAggregator
from sluice_client.replay.malformed import MalformedLine, MalformedReport


class Converter(Protocol):
    """Lines to readings."""

    def convert(self, line: str) -> list[Reading]:
        """The readings one line completes; raises ``MalformedLine``."""
        ...

    def idle(self, now_unix_nano: int) -> list[Reading]:
        """Readings due while the input has nothing new (windows past their end)."""
        ...

    def finish(self) -> list[Reading]:
        """Readings still held at the end of the input."""
        ...


class PerLine:
    """One line, its own readings, at once."""

    def __init__(self, readings: Callable[[str], list[Reading]]) -> None:
        self._readings = readings

    def convert(self, line: str) -> list[Reading]:
        """The line's readings."""
        return self._readings(line)

    def idle(self, now_unix_nano: int) -> list[Reading]:
        """Nothing is held."""
        return []

    def finish(self) -> list[Reading]:
        """Nothing is held."""
        return []


class Aggregated:
    """Access log lines counted and summed into windows."""

    def __init__(self, parser: AccessLogParser, aggregator: WindowAggregator) -> None:
        self._parser = parser
        self.aggregator = aggregator

    def convert(self, line: str) -> list[Reading]:
        """The readings of the windows this line's time closes."""
        return self.aggregator.add(self._parser.parse(line))

    def idle(self, now_unix_nano: int) -> list[Reading]:
        """The windows that ended by the wall clock."""
        return self.aggregator.expire(now_unix_nano)

    def finish(self) -> list[Reading]:
        """Every window still open."""
        return self.aggregator.flush()


@dataclass(slots=True)
class ReplayStats:
    """What a replay read and sent."""

    lines: int = 0
    """Lines read, blank ones included."""
    readings: int = 0
    """Readings handed to the client."""
    malformed: MalformedReport = field(default_factory=MalformedReport)


async def replay(
    lines: AsyncIterable[str | None],
    converter: Converter,
    client: IngestClient,
    stats: ReplayStats | None = None,
) -> ReplayStats:
    """Send the readings of every line, then what the converter still holds, and flush.

    ``None`` items of ``lines`` mean "nothing new for now" (see ``follow.IDLE``). Pass
    ``stats`` to watch the counters while it runs.
    """
    stats = stats or ReplayStats()
    async for line in lines:
        if line is None:
            readings = converter.idle(time.time_ns())
        else:
            stats.lines += 1
            if not line.strip():
                continue
            try:
                readings = converter.convert(line)
            except MalformedLine as error:
                stats.malformed.add(stats.lines, error)
                continue
        if readings:
            stats.readings += len(readings)
            await client.send_many(readings)
    rest = converter.finish()
    if rest:
        stats.readings += len(rest)
        await client.send_many(rest)
    await client.flush()
    return stats
