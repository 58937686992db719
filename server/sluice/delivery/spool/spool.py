"""One worker's spool: a claimed directory, its segment log, its fsync policy and its gauges.

``append`` writes whole batches' records at once and returns a future that resolves when
they are as durable as ``spool.fsync`` promises; a spool that cannot take them raises
``Unavailable`` at once, so nothing is ever acknowledged that the spool does not hold.
Reading and releasing are the replayer's (``sluice.delivery.replayer``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sluice.core import reasons
from sluice.core.batch import Record
from sluice.core.config.spool import SpoolConfig
from sluice.core.errors import Unavailable
from sluice.delivery.spool import dirs
from sluice.delivery.spool.frames import encode
from sluice.delivery.spool.repair import HEADER_BYTES, Recovery, reorder
from sluice.delivery.spool.segments import Entry, Position, SegmentLog
from sluice.delivery.spool.syncer import Syncer
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)


class Spool:
    """The durable, size-capped, append-only store of records Kafka has not taken."""

    def __init__(self, config: SpoolConfig, metrics: Metrics, retry_after_ms: int) -> None:
        self._config = config
        self._metrics = metrics
        self._retry_after_ms = retry_after_ms
        self._claim: dirs.Claim | None = None
        self._log: SegmentLog | None = None
        self._syncer: Syncer | None = None
        self._full = False
        self._closed = False

    @property
    def directory(self) -> str:
        """The directory this worker claimed (empty before ``start``)."""
        return "" if self._claim is None else str(self._claim.directory)

    @property
    def empty(self) -> bool:
        """True when the spool holds no record."""
        return self._log is None or self._log.held_bytes == 0

    @property
    def full(self) -> bool:
        """True since an append was refused for want of room, until room is freed."""
        return self._full

    async def start(self) -> Recovery:
        """Claim a directory, adopt orphaned segments, and recover what is on disk."""
        recovery = await asyncio.to_thread(self._open)
        assert self._log is not None
        self._syncer = Syncer(self._log, self._config.fsync, self._config.fsync_interval_ms / 1000)
        self._syncer.start()
        metrics = self._metrics
        metrics.spool_max_bytes.set(self._config.max_bytes)
        if recovery.damaged:
            metrics.spool_corrupt_records.inc(recovery.damaged)
        self._update_gauges()
        log.info(
            "spool ready",
            extra={
                "directory": self.directory,
                "records": recovery.records,
                "bytes": self._log.held_bytes,
                "damaged": recovery.damaged,
            },
        )
        return recovery

    def _open(self) -> Recovery:
        root = self._config.dir
        try:
            self._claim = dirs.claim(root)
        except OSError as exc:
            raise dirs.SpoolDirError(
                f"spool.dir {root} cannot be used: {exc.strerror or exc}; set spool.dir to a "
                "writable directory, or spool.enabled: false"
            ) from exc
        dirs.adopt(root, self._claim)
        self._log = SegmentLog(self._claim.directory, self._config.segment_bytes)
        return self._log.open()

    def append(self, records: Sequence[Record], segment: int | None = None) -> asyncio.Future[None]:
        """Append ``records`` (to the active segment, or to a reserved ``segment``).

        Returns a future that resolves once they are durable as ``spool.fsync`` says. Raises
        ``Unavailable`` when the spool is full or cannot be written.
        """
        spool_log, syncer = self._log, self._syncer
        if spool_log is None or syncer is None:
            raise self._unavailable("the spool is not open")
        data = b"".join([encode(record) for record in records])
        if spool_log.held_bytes + len(data) + HEADER_BYTES > self._config.max_bytes:
            self._full = True
            raise self._unavailable(f"the spool is full ({self._config.max_bytes} bytes)")
        try:
            spool_log.append(data, segment)
        except OSError as exc:
            log.error("spool write failed", extra={"error": str(exc)})
            raise self._unavailable(f"the spool cannot be written: {exc.strerror}") from exc
        self._metrics.spooled_readings.inc(sum(record.readings for record in records))
        self._update_gauges()
        return syncer.after_append()

    def reserve(self) -> int:
        """A segment number that sorts before everything appended after this call."""
        assert self._log is not None
        return self._log.reserve()

    async def reorder(self, segment: int, keys: list[float]) -> None:
        """Sort the records of the reserved, unsealed ``segment`` by ``keys`` (one per record
        appended to it, in order), in a thread."""
        path = None if self._log is None else self._log.path_of(segment)
        if path is not None and not await asyncio.to_thread(reorder, path, keys):
            log.error("could not reorder a spool segment", extra={"segment": path.name})

    def seal(self, segment: int) -> None:
        """Let reading go past the reserved ``segment``."""
        if self._log is not None:
            self._log.seal(segment)

    def first(self) -> Position:
        """Where the oldest record is."""
        assert self._log is not None
        return self._log.first()

    def read(self, position: Position, limit: int) -> tuple[list[Entry], Position]:
        """Up to ``limit`` records from ``position``, and the position after them."""
        assert self._log is not None
        entries, after, damaged = self._log.read(position, limit)
        if damaged:
            self._metrics.spool_corrupt_records.inc(damaged)
        return entries, after

    def at_end(self, position: Position) -> bool:
        """True when no record is stored at or after ``position``."""
        return self._log is None or self._log.at_end(position)

    def release_before(self, position: Position) -> None:
        """Delete the segments whose records all lie before ``position``."""
        spool_log = self._live_log()
        if spool_log is not None and spool_log.release_before(position):
            self._freed()

    def clear(self) -> None:
        """Delete every segment: everything spooled is delivered."""
        spool_log = self._live_log()
        if spool_log is not None and spool_log.clear():
            self._freed()

    async def close(self) -> None:
        """Sync what was written, close the files and unlock the directory (idempotent)."""
        if self._syncer is not None:
            await self._syncer.close()
            self._syncer = None
        if self._log is not None:
            self._log.close()
        if self._claim is not None:
            self._claim.release()
        self._closed = True

    def _live_log(self) -> SegmentLog | None:
        return None if self._closed else self._log

    def _freed(self) -> None:
        self._full = False
        self._update_gauges()

    def _update_gauges(self) -> None:
        assert self._log is not None
        self._metrics.spool_bytes.set(self._log.held_bytes)
        self._metrics.spool_segments.set(self._log.segment_count)

    def _unavailable(self, what: str) -> Unavailable:
        return Unavailable(
            reasons.KAFKA_UNAVAILABLE, f"Kafka is unreachable and {what}", self._retry_after_ms
        )
