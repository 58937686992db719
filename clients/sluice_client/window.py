"""The window of batches sent and not yet finally acknowledged."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from sluice.v1.ingest_pb2 import ReadingBatch


@dataclass(slots=True, eq=False)
class PendingBatch:
    """A batch awaiting its final Ack."""

    batch: ReadingBatch
    written: bool = False
    """Whether it has been written to a stream at least once."""
    not_before: float = 0.0
    """time.monotonic() before which it must not be written again (retry_after_ms)."""
    retries: int = 0
    """RATE_LIMITED or UNAVAILABLE Acks received for it."""


class AckWindow:
    """Batches awaiting a final Ack, by seq, at most ``limit`` of them.

    Waiters block while the window is full or batches are outstanding; ``fail()`` wakes them
    all with an exception.
    """

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("the window limit must be positive")
        self._limit = limit
        # Insertion order is seq order: seqs are assigned increasing as batches are added.
        self._pending: dict[int, PendingBatch] = {}
        self._changed = asyncio.Event()
        self._failure: BaseException | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def get(self, seq: int) -> PendingBatch | None:
        """The pending batch with ``seq``, if it still awaits a final Ack."""
        return self._pending.get(seq)

    def seqs(self) -> list[int]:
        """Seqs of every pending batch, ascending."""
        return list(self._pending)

    def add(self, seq: int, pending: PendingBatch) -> None:
        """Adds a batch; the caller has waited for room."""
        self._pending[seq] = pending
        self._notify()

    def settle(self, seq: int) -> PendingBatch | None:
        """Removes the batch with ``seq`` (it got its final Ack) and returns it."""
        pending = self._pending.pop(seq, None)
        if pending is not None:
            self._notify()
        return pending

    def fail(self, error: BaseException) -> None:
        """Makes every present and future wait raise ``error``."""
        self._failure = error
        self._notify()

    async def wait_for_room(self) -> None:
        """Waits until another batch fits."""
        await self._wait(lambda: len(self._pending) < self._limit)

    async def wait_settled(self, upto_seq: int) -> None:
        """Waits until no batch with a seq up to ``upto_seq`` is pending."""
        await self._wait(lambda: not self._pending or next(iter(self._pending)) > upto_seq)

    async def _wait(self, done: Callable[[], bool]) -> None:
        while True:
            if self._failure is not None:
                raise self._failure
            if done():
                return
            await self._changed.wait()

    def _notify(self) -> None:
        # Wake every current waiter, and give later waiters a fresh event.
        self._changed.set()
        self._changed = asyncio.Event()
