"""A connector: polls its source on its schedule, maps each response to readings, sends them,
and moves its checkpoint once the server has acknowledged them.

One poll, page by page (one page unless ``source.pagination`` says how to find the next):

1. GET the page (``fetch``), the first with ``cursor_param=<checkpoint>`` in incremental mode;
2. map every item (``mapping``); drift is counted per mapping field, never fatal;
3. in incremental mode, skip items whose cursor is at or before the checkpoint;
4. send the readings and wait for their Acks (``flush``);
5. save the largest cursor seen as the new checkpoint: while the pages come oldest first,
   a page's cursors are saved once the next page shows the order holds (and the last ones at
   the end of the poll), so a long backlog is not fetched again after a crash; when they
   come newest first, once the last page is in, since pages not yet fetched hold older
   items. Pages that come newest first stop at the first page reaching back to the
   checkpoint.

So a crash or restart between 1 and 5 fetches and sends the same items again (at least
once); the checkpoint never passes data the server has not acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from itertools import pairwise
from typing import Final, Protocol

import httpx

from sluice.v1.ingest_pb2 import Reading
from sluice_client.connect.checkpoint import Checkpoint, CheckpointStore, Cursor
from sluice_client.connect.fetch import Fetched, FetchError, fetch_json
from sluice_client.connect.mapping import Drift
from sluice_client.connect.pages import Page
from sluice_client.connect.reports import ConnectorStats, PollReport
from sluice_client.connect.schedule import (
    Clock,
    CronSchedule,
    IntervalSchedule,
    Schedule,
    SystemClock,
    next_due,
)
from sluice_client.connect.spec import ConnectorSpec
from sluice_client.timestamps import TimestampError, parse_rfc3339

log = logging.getLogger("sluice_client.connect")

CURSOR_FIELD: Final = "mapping.cursor"
MAX_PAGES_FIELD: Final = "source.pagination.max_pages"


class ReadingSink(Protocol):
    """Where readings go: an ``IngestClient``."""

    async def send_many(self, readings: Iterable[Reading]) -> None:
        """Buffer readings for sending."""
        ...

    async def flush(self) -> None:
        """Send what is buffered and wait for every Ack."""
        ...


def schedule_of(spec: ConnectorSpec) -> Schedule:
    """The spec's schedule."""
    if spec.interval_s is not None:
        return IntervalSchedule(spec.interval_s)
    assert spec.cron is not None
    return CronSchedule(spec.cron)


CursorKey = tuple[str, float | str]
"""A cursor as it compares: its kind, then its value."""


def cursor_key(cursor: Cursor) -> CursorKey:
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
        """Fetch, map, send and wait for the Acks, page by page, and move the checkpoint."""
        report = PollReport(cursor=self.cursor)
        pagination = self.spec.source.pagination
        max_pages = 1 if pagination is None else pagination.max_pages
        page: Page | None = Page(self.spec.source.url, tuple(self._params().items()))
        fetched_pages: set[Page] = set()
        polls = 1 if self._checkpoint is None else self._checkpoint.polls + 1
        held: Cursor = None  # the newest cursor acknowledged and not yet saved
        last: CursorKey | None = None  # the previous page's last cursor
        oldest_first = True
        while page is not None:
            if report.pages == max_pages:
                report.more = True
                break
            try:
                fetched = await self._fetch(page)
            except FetchError as failure:
                report.ok, report.error = False, str(failure)
                report.attempts += failure.attempts
                break
            fetched_pages.add(page)
            report.pages += 1
            report.attempts += fetched.attempts
            seen_before = report.seen
            readings, keys, newest = self._map(fetched.body, report)
            if readings:
                await self._sink.send_many(readings)
                await self._sink.flush()
                report.readings += len(readings)
            oldest_first = oldest_first and _ascending(keys, last)
            last = keys[-1] if keys else last
            if oldest_first and held is not None:
                # This page follows the earlier ones in order: theirs are safe to save.
                self._save(held, polls)
                held = None
            held = _newer(held, newest)
            if not oldest_first and report.seen > seen_before:
                page = None  # newest first: what follows is older still, and already sent
                break
            page = self._next_page(page, fetched, fetched_pages, report)
        if report.ok and (page is None or oldest_first):
            self._save(_newer(self.cursor, held), polls)
        elif report.ok:
            stays = "pages come newest first and ran out before the checkpoint: it stays"
            report.add_drift(report.pages - 1, Drift(MAX_PAGES_FIELD, stays))
        report.cursor = self.cursor
        return self._finish(report)

    async def _fetch(self, page: Page) -> Fetched:
        return await fetch_json(
            self._http,
            page.url,
            params=dict(page.params),
            headers=self.spec.source.headers,
            timeout_s=self.spec.source.timeout_s,
            retries=self.spec.retries,
            backoff_s=self.spec.backoff_s,
            sleep=self._clock.sleep,
            rng=self._rng,
        )

    def _next_page(
        self, page: Page, fetched: Fetched, fetched_pages: set[Page], report: PollReport
    ) -> Page | None:
        pagination = self.spec.source.pagination
        if pagination is None:
            return None
        try:
            return pagination.after(page, fetched, fetched_pages)
        except Drift as broken:
            report.add_drift(report.pages - 1, broken)
            return None

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

    def _map(
        self, body: object, report: PollReport
    ) -> tuple[list[Reading], list[CursorKey], Cursor]:
        """The page's readings not yet sent, the cursor key of every item that has one (in
        order), and the newest cursor among the items not yet sent."""
        mapping = self.spec.mapping
        try:
            items = mapping.items_of(body)
        except Drift as gone:
            report.add_drift(0, gone)
            return [], [], None
        report.items += len(items)
        since = None if self.cursor is None else cursor_key(self.cursor)
        readings: list[Reading] = []
        keys: list[CursorKey] = []
        newest: Cursor = None
        newest_key: CursorKey | None = None
        for index, item in enumerate(items):
            result = mapping.map_item(item)
            for problem in result.drift:
                report.add_drift(index, problem)
            position, key, seen = self._position(index, result.cursor, since, report)
            if key is not None:
                keys.append(key)
            if seen:
                report.seen += 1
                continue
            if key is not None and (newest_key is None or key > newest_key):
                newest, newest_key = position, key
            if result.skipped:
                report.skipped += 1
            readings.extend(result.readings)
        return readings, keys, newest

    def _position(
        self,
        index: int,
        position: object,
        since: CursorKey | None,
        report: PollReport,
    ) -> tuple[Cursor, CursorKey | None, bool]:
        """The item's usable cursor and its key (or None, None), and whether it is at or
        before the checkpoint (incremental mode)."""
        if self.spec.mode != "incremental" or position is None:
            return None, None, False
        if not isinstance(position, str | int | float) or isinstance(position, bool):
            report.add_drift(index, Drift(CURSOR_FIELD, f"{position!r} is not a position"))
            return None, None, False
        key = cursor_key(position)
        if since is not None and key[0] != since[0]:
            report.add_drift(
                index, Drift(CURSOR_FIELD, f"{position!r} is not like {self.cursor!r}")
            )
            return None, None, False
        return position, key, since is not None and key <= since

    def _save(self, cursor: Cursor, polls: int) -> None:
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


def _newer(cursor: Cursor, other: Cursor) -> Cursor:
    """The later of two cursors of one kind; either may be None."""
    if cursor is None:
        return other
    if other is None or cursor_key(other) <= cursor_key(cursor):
        return cursor
    return other


def _ascending(keys: list[CursorKey], before: CursorKey | None) -> bool:
    """True when ``keys`` never go back, starting from ``before`` (None: anywhere)."""
    sequence = keys if before is None else [before, *keys]
    return all(earlier <= later for earlier, later in pairwise(sequence))
