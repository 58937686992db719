"""When spooled data reaches the disk: the ``spool.fsync`` policy, with fsyncs off the loop.

- ``batch``: each append's future resolves once an fsync that began after the append is
  done. Appends that arrive while an fsync runs share the next one (group commit), so the
  number of fsyncs follows the disk's speed, not the batch rate.
- ``interval``: appends are durable in the page cache at once; a timer fsyncs what was
  written every ``fsync_interval_ms``.
- ``never``: appends are durable in the page cache at once; only ``close`` fsyncs.

The page cache survives the death of the process (``kill -9``); only an fsync survives the
loss of the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from sluice.core.config.spool import FsyncMode
from sluice.core.tasks import cancel_and_wait
from sluice.delivery.spool.segments import SegmentLog

log = logging.getLogger(__name__)


class Syncer:
    """Syncs one ``SegmentLog`` as ``mode`` says."""

    def __init__(self, segments: SegmentLog, mode: FsyncMode, interval_s: float) -> None:
        self._segments = segments
        self._mode = mode
        self._interval_s = interval_s
        self._waiters: list[asyncio.Future[None]] = []
        self._running: asyncio.Future[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._timer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the interval timer (``interval`` mode)."""
        if self._mode == "interval" and self._timer is None:
            self._timer = asyncio.create_task(self._every_interval(), name="spool-fsync")

    def after_append(self) -> asyncio.Future[None]:
        """A future that resolves once the data appended so far is as durable as the mode
        promises: at once for ``interval`` and ``never``, after an fsync for ``batch``."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        if self._mode != "batch":
            if self._mode == "never":
                self._segments.close_retired()
            waiter.set_result(None)
            return waiter
        self._waiters.append(waiter)
        if self._running is None:
            self._begin()
        return waiter

    async def close(self) -> None:
        """Stop the timer and fsync everything written (every mode)."""
        timer, self._timer = self._timer, None
        await cancel_and_wait(timer)
        await self._idle.wait()  # set by the last fsync's callback, not by its thread
        with contextlib.suppress(OSError):
            await self._sync_now()

    def _begin(self) -> None:
        waiters, self._waiters = self._waiters, []
        fds, directory_changed = self._segments.take_unsynced()
        directory = self._segments.directory if directory_changed else None
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(None, _fsync_all, fds, directory)
        self._running = running
        self._idle.clear()

        def finished(done: asyncio.Future[None]) -> None:
            self._running = None
            error = done.exception()
            if error is not None:
                log.error("spool fsync failed", extra={"error": str(error)})
            for waiter in waiters:
                if waiter.done():
                    continue
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
            if self._waiters:
                self._begin()
            else:
                self._idle.set()

        running.add_done_callback(finished)

    async def _sync_now(self) -> None:
        fds, directory_changed = self._segments.take_unsynced()
        directory = self._segments.directory if directory_changed else None
        await asyncio.get_running_loop().run_in_executor(None, _fsync_all, fds, directory)

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            if self._segments.needs_sync:
                try:
                    await self._sync_now()
                except OSError as exc:
                    log.error("spool fsync failed", extra={"error": str(exc)})


def _fsync_all(fds: list[int], directory: Path | None) -> None:
    """fsync and close ``fds``, then fsync ``directory`` (so new and deleted files last too);
    raises the first error once every descriptor is closed."""
    if directory is not None:
        fds = [*fds, os.open(directory, os.O_RDONLY)]
    error: OSError | None = None
    for fd in fds:
        try:
            os.fsync(fd)
        except OSError as exc:
            error = error or exc
        finally:
            os.close(fd)
    if error is not None:
        raise error
