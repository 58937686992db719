"""Replays the spool into Kafka in order, and frees each segment once all of it is delivered.

- It runs while ``may_replay()`` allows (the breaker is not open, and every record produced
  before the last purge has settled), with at most ``REPLAY_WINDOW`` records (and
  ``REPLAY_WINDOW_BYTES``) in flight.
- A segment is deleted once every record in it is delivered; a crash before that replays
  the segment again, so records already delivered from it arrive twice (duplicates, never
  loss).
- A record that fails stops the replay: every record in flight settles, reading goes back to
  the first record not delivered, and replay resumes after a backoff. Records after it that
  were delivered meanwhile are sent again (duplicates).
- A dead-letter record Kafka refuses for good is dropped with a warning, as it would be
  live. A readings record refused for good is retried after each backoff and logged as an
  error: it holds the spool until the cause (a deleted topic, an ACL) is fixed.
- Once nothing is left to read and nothing is in flight, the spool is cleared and
  ``on_drained()`` is called.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

from sluice.core.batch import Record
from sluice.core.errors import DeliveryFailed, SluiceError
from sluice.core.tasks import cancel_and_wait
from sluice.delivery.breaker import jittered
from sluice.delivery.spool.segments import Entry, Position
from sluice.delivery.spool.spool import Spool
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)

REPLAY_WINDOW: Final = 512
"""Spooled records in flight to Kafka at once, at most..."""
REPLAY_WINDOW_BYTES: Final = 32 * 1024 * 1024
"""...and bytes of record values in flight at once."""
READ_RECORDS: Final = 64
RETRY_INITIAL_S: Final = 0.2
RETRY_MAX_S: Final = 10.0
RECHECK_S: Final = 0.25
"""Longest sleep before conditions are checked again without a wake-up."""

Produce = Callable[[Record], Awaitable[asyncio.Future[None]]]


class Replayer:
    """Feeds one spool's records to ``produce`` in order."""

    def __init__(
        self,
        spool: Spool,
        produce: Produce,
        metrics: Metrics,
        may_replay: Callable[[], bool],
        on_drained: Callable[[], None],
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._spool = spool
        self._produce = produce
        self._metrics = metrics
        self._may_replay = may_replay
        self._on_drained = on_drained
        self._rng = rng
        self._inflight: deque[tuple[Entry, asyncio.Future[None]]] = deque()
        self._inflight_bytes = 0
        self._failure: BaseException | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        """Spooled records produced and not yet settled."""
        return len(self._inflight)

    def start(self) -> None:
        """Start replaying (whenever there is something to replay)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="spool-replayer")

    def wake(self) -> None:
        """Something changed: records were spooled, or the breaker moved."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop producing; records in flight still release their segments as they settle."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        spool = self._spool
        cursor = spool.first()
        attempt = 0
        while True:
            self._wakeup.clear()
            if self._failure is not None:
                cursor = await self._rewind(cursor)
                await asyncio.sleep(jittered(attempt, RETRY_INITIAL_S, RETRY_MAX_S, self._rng))
                attempt += 1
                continue
            room = REPLAY_WINDOW - len(self._inflight)
            full = room <= 0 or self._inflight_bytes >= REPLAY_WINDOW_BYTES
            if not self._may_replay() or full:
                await self._sleep()
                continue
            entries, after = spool.read(cursor, min(room, READ_RECORDS))
            if not entries:
                cursor = after
                if not self._inflight and spool.at_end(cursor):
                    if not spool.empty:
                        spool.clear()
                        cursor = spool.first()
                    self._on_drained()
                    attempt = 0
                await self._sleep()
                continue
            for entry in entries:
                if self._failure is not None or not self._may_replay():
                    break
                try:
                    future = await self._produce(entry.record)
                except SluiceError as exc:
                    self._failure = exc
                    break
                self._inflight.append((entry, future))
                self._inflight_bytes += len(entry.record.value)
                future.add_done_callback(self._settled)
                cursor = entry.end

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RECHECK_S):
                await self._wakeup.wait()

    async def _rewind(self, cursor: Position) -> Position:
        """Let every record in flight settle; return the first record not delivered (the
        failed one), or ``cursor`` when the failure was a record ``produce`` refused."""
        unsettled = [future for _, future in self._inflight if not future.done()]
        if unsettled:
            await asyncio.wait(unsettled)
        restart = self._inflight[0][0].start if self._inflight else cursor
        for _, future in self._inflight:
            _error_of(future)  # retrieved: these are sent again
        self._inflight.clear()
        self._inflight_bytes = 0
        self._failure = None
        return restart

    def _settled(self, _: asyncio.Future[None]) -> None:
        """Deliveries in order free their segments; the first failure stops the replay."""
        inflight = self._inflight
        delivered = None
        while inflight and inflight[0][1].done():
            entry, future = inflight[0]
            error = _error_of(future)
            if error is not None and not _droppable(entry, error):
                if self._failure is None:
                    self._failure = error
                    log.log(
                        logging.ERROR if isinstance(error, DeliveryFailed) else logging.WARNING,
                        "spool replay failed; retrying after a backoff",
                        extra={"error": str(error), "topic": entry.record.topic},
                    )
                break
            inflight.popleft()
            self._inflight_bytes -= len(entry.record.value)
            delivered = entry.end
            if error is None:
                self._metrics.spool_replayed_readings.inc(entry.record.readings)
        if delivered is not None:
            self._spool.release_before(inflight[0][0].start if inflight else delivered)
        self._wakeup.set()


def _error_of(future: asyncio.Future[None]) -> BaseException | None:
    if future.cancelled():
        return asyncio.CancelledError("replayed record cancelled")
    return future.exception()


def _droppable(entry: Entry, error: BaseException) -> bool:
    """A dead-letter record refused for good is dropped, as it is when produced live."""
    if entry.record.readings == 0 and isinstance(error, DeliveryFailed):
        log.warning(
            "spooled dead-letter record refused by Kafka; dropped",
            extra={"topic": entry.record.topic, "error": str(error)},
        )
        return True
    return False
