"""The countdown that resolves a batch's ``done`` once each of its Kafka records is settled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sluice.core import reasons
from sluice.core.batch import Batch, Record
from sluice.core.config.kafka import DEFAULT_RETRY_AFTER_MS
from sluice.core.errors import Unavailable

log = logging.getLogger(__name__)


class BatchCountdown:
    """Resolves a batch's ``done`` once every one of its records is settled.

    The Ack waits for the dead-letter record too, so that a PARTIAL or REJECTED answer means
    the failures are in the DLQ; but a dead-letter record that Kafka refuses is only logged.
    """

    __slots__ = ("_batch", "_left")

    def __init__(self, batch: Batch, records: int) -> None:
        self._batch = batch
        self._left = records

    def futures(self, records: list[Record]) -> list[asyncio.Future[None]]:
        """One future per record, each counting down like a produced record's delivery."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for record in records:
            future: asyncio.Future[None] = loop.create_future()
            future.add_done_callback(self.settled_by(record))
            futures.append(future)
        return futures

    def settled_by(self, record: Record) -> Callable[[asyncio.Future[None]], None]:
        """The callback that counts ``record``'s delivery down."""
        return self.readings if record.readings else self.dead_letter

    def readings(self, settled: asyncio.Future[None]) -> None:
        """Callback of a readings record: its error fails the batch."""
        error = _error_of(settled)
        done = self._batch.done
        if error is not None:
            if not done.done():
                done.set_exception(error)
            return
        self.count_down()

    def dead_letter(self, settled: asyncio.Future[None]) -> None:
        """Callback of the dead-letter record: its error is logged, never fatal."""
        error = _error_of(settled)
        if error is None:
            self.count_down()
        else:
            self.dead_letter_lost(error)

    def dead_letter_lost(self, error: BaseException) -> None:
        """The dead-letter record was refused or failed: logged, and counted as settled."""
        log.warning(
            "dead-letter record not delivered",
            extra={
                "tenant": self._batch.tenant,
                "session_id": self._batch.session_id,
                "seq": self._batch.seq,
                "error": str(error),
            },
        )
        self.count_down()

    def count_down(self) -> None:
        """One more record settled."""
        self._left -= 1
        done = self._batch.done
        if self._left == 0 and not done.done():
            done.set_result(None)


def _error_of(settled: asyncio.Future[None]) -> BaseException | None:
    if settled.cancelled():
        return Unavailable(
            reasons.KAFKA_UNAVAILABLE, "Kafka delivery was cancelled", DEFAULT_RETRY_AFTER_MS
        )
    return settled.exception()
