"""A connector: polls its source on its schedule, maps each response to readings, sends them,
and moves its checkpoint once the server has acknowledged them.

One poll:

1. GET the source (``fetch``), with ``cursor_param=<checkpoint>`` in incremental mode;
2. map every item (``mapping``); drift is counted per mapping field, never fatal;
3. in incremental mode, skip items whose cursor is at or before the checkpoint;
4. send the readings and wait for their Acks (``flush``);
5. save the largest cursor seen as the new checkpoint.

So a crash or restart between 1 and 5 fetches and sends the same items again (at least
once); the checkpoint never passes data the server has not acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol

import httpx

from sluice.httpingest.timestamps import TimestampError, parse_rfc3339
from sluice.v1.ingest_pb2 import Reading
from sluice_client.connect.checkpoint import Checkpoint, CheckpointStore, Cursor
from sluice_client.connect.fetch import FetchError, fetch_json
from sluice_client.connect.mapping import Drift
from sluice_client.connect.schedule import (
    Clock,
    CronSchedule,
    IntervalSchedule,
    Schedule,
    SystemClock,
    next_due,
)
from sluice_client.connect.spec import ConnectorSpec

log = logging.getLogger("sluice_client.connect")

MAX_DRIFT_EXAMPLES: Final = 10
CURSOR_FIELD: Final = "mapping.cursor"


class ReadingSink(Protocol):
    """Where readings go: an ``IngestClient``."""

    async def send_many(self, readings: Iterable[Reading]) -> None:
        """Buffer readings for sending."""
        ...

    async def flush(self) -> None:
        """Send what is buffered and wait for every Ack."""
        ...


@dataclass(slots=True)
class PollReport:
    """What one poll did."""

    ok: bool = True
    error: str = ""
    attempts: int = 0
    items: int = 0
    """Items in the response."""
    seen: int = 0
    """Items at or before the checkpoint, skipped (incremental mode)."""
    skipped: int = 0
    """Items that gave no reading because of drift."""
    readings: int = 0
    drift: dict[str, int] = field(default_factory=dict)
    """Drift by mapping field, e.g. {"mapping.device_id": 3}."""
    examples: list[str] = field(default_factory=list)
    cursor: Cursor = None
    """The checkpoint after the poll."""

    def add_drift(self, index: int, drift: Drift) -> None:
        """Count one item's drift."""
        self.drift[drift.field] = self.drift.get(drift.field, 0) + 1
        if len(self.examples) < MAX_DRIFT_EXAMPLES:
            self.examples.append(f"item {index}: {drift.field}: {drift.message}")

    def summary(self) -> str:
        """One line for people."""
        if not self.ok:
            return f"poll failed after {self.attempts} attempt(s): {self.error}"
        text = (
            f"{self.items} items, {self.readings} readings, {self.seen} already seen, "
            f"{self.skipped} skipped"
        )
        if self.drift:
            text += "; drift: " + ", ".join(f"{k}={v}" for k, v in sorted(self.drift.items()))
        return text + f"; cursor {self.cursor!r}"


@dataclass(slots=True)
class ConnectorStats:
    """Totals over a connector's polls."""

    polls: int = 0
    failed_polls: int = 0
    readings: int = 0
    drift: dict[str, int] = field(default_factory=dict)

    def add(self, report: PollReport) -> None:
        """Count one poll."""
        self.polls += 1
        self.failed_polls += not report.ok
        self.readings += report.readings
        for key, count in report.drift.items():
            self.drift[key] = self.drift.get(key, 0) + count


def schedule_of(spec: ConnectorSpec) -> Schedule:
    """The spec's schedule."""
    if spec.interval_s is not None:
        return IntervalSchedule(spec.interval_s)
    assert spec.cron is not None
    return CronSchedule(spec.cron)


def cursor_key(cursor: Cursor) -> tuple[str, float | str]:
    """How cursors compare: numbers by value, RFC 3339 times by instant, other text as text;
    different kinds do not compare."""
    if isinstance(cursor, int | float) and not isinstance(cursor, bool):
        return ("number", float(cursor))
    text = str(cursor)
    try:
        return ("time", float(parse_rfc3339(text)))
    except TimestampError:
        return ("text", text)


class Connector:
    """Runs one connector spec into a ``ReadingSink``."""

    def __init__(
        self,
        spec: ConnectorSpec,
        sink: ReadingSink,
        http: httpx.AsyncClient,
        checkpoints: CheckpointStore,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        self._sink = sink
        self._http = http
        self._checkpoints = checkpoints
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._checkpoint = checkpoints.load()
        self.stats = ConnectorStats()

    @property
    def cursor(self) -> Cursor:
        """The current checkpoint's cursor."""
        return None if self._checkpoint is None else self._checkpoint.cursor

    async def poll_once(self) -> PollReport:
        """Fetch, map, send, wait for the Acks, and move the checkpoint."""
        report = PollReport(cursor=self.cursor)
        try:
            fetched = await fetch_json(
                self._http,
                self.spec.source.url,
                params=self._params(),
                headers=self.spec.source.headers,
                timeout_s=self.spec.source.timeout_s,
                retries=self.spec.retries,
                backoff_s=self.spec.backoff_s,
                sleep=self._clock.sleep,
                rng=self._rng,
            )
        except FetchError as failure:
            report.ok, report.error, report.attempts = False, str(failure), failure.attempts
            return self._finish(report)
        report.attempts = fetched.attempts
        readings, newest = self._map(fetched.body, report)
        if readings:
            await self._sink.send_many(readings)
            await self._sink.flush()
        report.readings = len(readings)
        self._save(newest if newest is not None else self.cursor)
        report.cursor = self.cursor
        return self._finish(report)

    async def run(self, stop: asyncio.Event, max_polls: int | None = None) -> ConnectorStats:
        """Poll on schedule until ``stop`` is set (or after ``max_polls`` polls)."""
        schedule = schedule_of(self.spec)
        due = schedule.first(self._clock.time())
        while not stop.is_set() and (max_polls is None or self.stats.polls < max_polls):
            wait = due - self._clock.time()
            if wait > 0 and await self._stopped_within(stop, wait):
                break
            await self.poll_once()
            due = next_due(schedule, due, self._clock.time())
        return self.stats

    def _params(self) -> dict[str, str]:
        params = dict(self.spec.source.params)
        cursor_param = self.spec.source.cursor_param
        if self.spec.mode == "incremental" and cursor_param and self.cursor is not None:
            params[cursor_param] = str(self.cursor)
        return params

    def _map(self, body: object, report: PollReport) -> tuple[list[Reading], Cursor]:
        mapping = self.spec.mapping
        try:
            items = mapping.items_of(body)
        except Drift as gone:
            report.add_drift(0, gone)
            return [], None
        report.items = len(items)
        since = None if self.cursor is None else cursor_key(self.cursor)
        readings: list[Reading] = []
        newest: Cursor = None
        for index, item in enumerate(items):
            result = mapping.map_item(item)
            for problem in result.drift:
                report.add_drift(index, problem)
            position, seen = self._position(index, result.cursor, since, report)
            if seen:
                report.seen += 1
                continue
            if position is not None and (
                newest is None or cursor_key(position) > cursor_key(newest)
            ):
                newest = position
            if result.skipped:
                report.skipped += 1
            readings.extend(result.readings)
        return readings, newest

    def _position(
        self,
        index: int,
        position: object,
        since: tuple[str, float | str] | None,
        report: PollReport,
    ) -> tuple[Cursor, bool]:
        """The item's usable cursor (or None), and whether it is at or before the checkpoint
        (incremental mode)."""
        if self.spec.mode != "incremental" or position is None:
            return None, False
        if not isinstance(position, str | int | float) or isinstance(position, bool):
            report.add_drift(index, Drift(CURSOR_FIELD, f"{position!r} is not a position"))
            return None, False
        key = cursor_key(position)
        if since is not None and key[0] != since[0]:
            report.add_drift(
                index, Drift(CURSOR_FIELD, f"{position!r} is not like {self.cursor!r}")
            )
            return None, False
        return position, since is not None and key <= since

    def _save(self, cursor: Cursor) -> None:
        polls = 1 if self._checkpoint is None else self._checkpoint.polls + 1
        self._checkpoint = Checkpoint(cursor, self.spec.version, self._clock.time(), polls)
        self._checkpoints.save(self._checkpoint)

    def _finish(self, report: PollReport) -> PollReport:
        self.stats.add(report)
        if not report.ok:
            log.warning("connector %s: %s", self.spec.name, report.summary())
        elif report.drift:
            log.warning("connector %s: %s; %s", self.spec.name, report.summary(), report.examples)
        else:
            log.info("connector %s: %s", self.spec.name, report.summary())
        return report

    async def _stopped_within(self, stop: asyncio.Event, seconds: float) -> bool:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        sleeper.cancel()
        stopper.cancel()
        return stop.is_set()
