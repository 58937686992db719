"""The process-wide bound on bytes and readings read from streams and not yet acknowledged."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from sluice.ops.metrics import Metrics


@dataclass(slots=True, eq=False)
class _Waiter:
    future: asyncio.Future[None]
    nbytes: int
    nreadings: int


class InflightBudget:
    """A budget of bytes and readings that batches hold from receipt until their Ack.

    ``acquire`` waits until both fit, first come first served: while anyone waits, newcomers
    queue behind them, so a large batch is never starved by a stream of small ones. A batch
    larger than a maximum on its own is admitted once nothing else is held, so it cannot
    deadlock. The ``queue_bytes`` and ``queue_readings`` gauges are read from what is held
    whenever the metrics are published, not updated per batch.
    """

    def __init__(self, max_bytes: int, max_readings: int, metrics: Metrics) -> None:
        if max_bytes <= 0 or max_readings <= 0:
            raise ValueError(
                f"max_bytes and max_readings must be positive, got {max_bytes}, {max_readings}"
            )
        self._max_bytes = max_bytes
        self._max_readings = max_readings
        self._held_bytes = 0
        self._held_readings = 0
        self._waiters: deque[_Waiter] = deque()
        metrics.tallies.reading(metrics.queue_bytes, lambda: self._held_bytes)
        metrics.tallies.reading(metrics.queue_readings, lambda: self._held_readings)

    @property
    def held_bytes(self) -> int:
        """Bytes currently held."""
        return self._held_bytes

    @property
    def held_readings(self) -> int:
        """Readings currently held."""
        return self._held_readings

    @property
    def waiting(self) -> int:
        """Callers currently waiting in ``acquire``."""
        return len(self._waiters)

    # The timeout is a parameter, not the caller's asyncio.timeout, because running out of
    # time is an answer (False: the queue is full), not an error.
    async def acquire(
        self,
        nbytes: int,
        nreadings: int,
        timeout: float | None,  # noqa: ASYNC109
    ) -> bool:
        """Hold ``nbytes`` and ``nreadings``, waiting up to ``timeout`` seconds for room.

        Returns False, holding nothing, if there was no room in time. ``None`` waits forever.
        """
        if self.try_acquire(nbytes, nreadings):
            return True
        if timeout is not None and timeout <= 0:
            return False
        waiter = _Waiter(asyncio.get_running_loop().create_future(), nbytes, nreadings)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter.future
        except TimeoutError:
            return self._abandon(waiter)
        except asyncio.CancelledError:
            if self._abandon(waiter):
                self.release(nbytes, nreadings)
            raise
        return True

    def try_acquire(self, nbytes: int, nreadings: int) -> bool:
        """Hold ``nbytes`` and ``nreadings`` if they fit now and nobody waits; never waits.

        The per-batch path's fast case, without the coroutine ``acquire`` costs.
        """
        if not self._waiters and self._fits(nbytes, nreadings):
            self._held_bytes += nbytes
            self._held_readings += nreadings
            return True
        return False

    def release(self, nbytes: int, nreadings: int) -> None:
        """Give back what an ``acquire`` took, and admit waiters that now fit."""
        if nbytes > self._held_bytes or nreadings > self._held_readings:
            raise ValueError(
                f"releasing {nbytes} bytes and {nreadings} readings, but only "
                f"{self._held_bytes} and {self._held_readings} are held"
            )
        self._held_bytes -= nbytes
        self._held_readings -= nreadings
        if self._waiters:
            self._admit_waiters()

    def _fits(self, nbytes: int, nreadings: int) -> bool:
        held_bytes = self._held_bytes
        held_readings = self._held_readings
        if not held_bytes and not held_readings:
            return True
        return (
            held_bytes + nbytes <= self._max_bytes
            and held_readings + nreadings <= self._max_readings
        )

    def _admit_waiters(self) -> None:
        """Grant waiters in arrival order, stopping at the first that does not fit."""
        waiters = self._waiters
        while waiters:
            head = waiters[0]
            if head.future.done():  # cancelled, and its owner not yet resumed
                waiters.popleft()
                continue
            if not self._fits(head.nbytes, head.nreadings):
                return
            waiters.popleft()
            self._held_bytes += head.nbytes
            self._held_readings += head.nreadings
            head.future.set_result(None)

    def _abandon(self, waiter: _Waiter) -> bool:
        """Withdraw a waiter that gave up; True if it had been granted in the meantime."""
        future = waiter.future
        granted = future.done() and not future.cancelled()
        if not granted:
            future.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            # Removing the head may let those queued behind it in.
            self._admit_waiters()
        return granted
