"""The spillway: where the Kafka sink sends what Kafka cannot take now, and how it flows back.

- **Diverting.** While the circuit breaker is open, or the spool holds anything, the sink
  hands whole batches to ``take``: appended, synced as ``spool.fsync`` says, then resolved OK.
  New batches thus queue behind spooled ones, and each key keeps its order.
- **Purge.** When the breaker opens, the producer gives back the records librdkafka holds but
  has not sent. They are older than anything spooled from then on, so they go to a segment
  reserved at that moment, which sorts (and replays) first, and which is put in produce
  order once the purge is complete. Records in flight keep waiting for their delivery
  report: delivered, or failed back to the client, never spooled; until they are all
  reported, batches keep going to the spool.
- **Replay** (``sluice.delivery.replayer``) runs while the breaker is not open and every record
  produced before the last purge has settled, so a replayed record never overtakes an older
  one of its key that librdkafka still holds. Once the spool is empty, batches go straight to
  the producer again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from sluice.core import reasons
from sluice.core.batch import Batch, Record
from sluice.core.config.spool import SpoolConfig
from sluice.core.errors import SluiceError, Unavailable
from sluice.delivery.breaker import BreakerState
from sluice.delivery.kafka.producer import AsyncProducer
from sluice.delivery.replayer import Replayer
from sluice.delivery.spool.spool import Spool
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)

DRAIN_POLL_S = 0.05


class Spillway:
    """Couples one spool to one producer and its circuit breaker.

    ``on_divert(flag)`` is told whenever ``diverting`` changes, so the sink's hot path reads
    a plain attribute.
    """

    def __init__(
        self,
        config: SpoolConfig,
        producer: AsyncProducer,
        metrics: Metrics,
        retry_after_ms: int,
        on_divert: Callable[[bool], None],
    ) -> None:
        self._config = config
        self._producer = producer
        self._breaker = producer.breaker
        self._retry_after_ms = retry_after_ms
        self._on_divert = on_divert
        self.spool = Spool(config, metrics, retry_after_ms)
        self._replayer = Replayer(
            self.spool,
            lambda record: producer.produce(record, spill=False),
            metrics,
            self._may_replay,
            self._refresh,
        )
        self._purges: list[tuple[float, int]] = []
        self._spilled: dict[int, list[float]] = {}
        self._settling: asyncio.Future[None] | None = None
        self._diverting = True

    @property
    def diverting(self) -> bool:
        """True while batches must go to the spool rather than to the producer."""
        return self._diverting

    @property
    def full(self) -> bool:
        """True while the spool refuses batches for want of room."""
        return self.spool.full

    async def open(self) -> None:
        """Open the spool (recovering what is on disk); call before the producer starts."""
        await self.spool.start()
        self._producer.set_spill(self.spill)
        self._breaker.subscribe(self._on_breaker)
        self._diverting = not self._should_divert()
        self._refresh()

    def start_replay(self) -> None:
        """Start replaying (once the producer runs)."""
        self._replayer.start()

    def take(self, batch: Batch) -> None:
        """Spool every record of ``batch``; ``batch.done`` resolves once they are durable.

        Raises ``Unavailable`` when the spool cannot take them (full, or a write failed).
        """
        self.store(batch.records, batch.done)

    def store(self, records: Sequence[Record], done: asyncio.Future[None]) -> None:
        """Spool ``records`` after everything spooled so far; settle ``done`` once durable."""
        if records:
            self._chain(self.spool.append(records), done)
        elif not done.done():
            done.set_result(None)
        self._spooled()

    def spill(self, record: Record, done: asyncio.Future[None], produced_at: float) -> None:
        """Spool a record librdkafka gave back unsent, in the segment of the purge that took
        it back, or after everything else when no purge did."""
        segment = None
        for purged_at, reserved in self._purges:
            if produced_at <= purged_at:
                segment = reserved
                break
        try:
            self._chain(self.spool.append((record,), segment), done)
        except SluiceError as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if segment is not None:
                self._spilled.setdefault(segment, []).append(produced_at)
        self._spooled()

    async def drain(self) -> None:
        """With Kafka reachable, replay until the spool is empty, for ``drain_timeout_s``;
        otherwise the spool waits on disk for the next start."""
        deadline = time.monotonic() + self._config.drain_timeout_s
        if not self._diverting or not await self._producer.probe_now():
            return
        while self._diverting and time.monotonic() < deadline:
            if self._breaker.is_open:
                return
            await asyncio.sleep(DRAIN_POLL_S)

    async def stop_replay(self) -> None:
        """Stop replaying; records in flight still free their segments as they settle."""
        await self._replayer.stop()

    async def close(self) -> None:
        """Sync and close the spool (after the producer has shut down)."""
        await self.spool.close()

    def _spooled(self) -> None:
        self._replayer.wake()
        self._refresh()

    def _on_breaker(self, state: BreakerState) -> None:
        if state is BreakerState.OPEN:
            purged_at = self._producer.purge_queue()
            self._purges.append((purged_at, self.spool.reserve()))
        self._replayer.wake()
        self._refresh()

    def _may_replay(self) -> bool:
        if self._breaker.is_open:
            return False
        if not self._purges:
            return True
        if self._settling is None:
            oldest = self._producer.oldest_undelivered_at()
            if oldest is None or oldest > self._purges[-1][0]:
                self._settling = asyncio.ensure_future(self._settle_purges(len(self._purges)))
        return False

    async def _settle_purges(self, count: int) -> None:
        """Every record the first ``count`` purges took back is spooled: put each reserved
        segment in produce order (librdkafka reports a purge in more than one round, not
        always oldest first), and let the replay read past it."""
        try:
            for _, reserved in self._purges[:count]:
                keys = self._spilled.pop(reserved, None)
                if keys:
                    try:
                        await self.spool.reorder(reserved, keys)
                    except OSError as exc:  # replayed in the order it was reported, then
                        log.error("spool reorder failed", extra={"error": str(exc)})
                self.spool.seal(reserved)
            del self._purges[:count]
        finally:
            self._settling = None
        self._replayer.wake()
        self._refresh()

    def _should_divert(self) -> bool:
        return (
            self._breaker.is_open
            or bool(self._purges)  # records from before the purge may still be in flight
            or not self.spool.empty
            or self._replayer.in_flight > 0
        )

    def _refresh(self) -> None:
        diverting = self._should_divert()
        if diverting != self._diverting:
            self._diverting = diverting
            self._on_divert(diverting)

    def _chain(self, durable: asyncio.Future[None], done: asyncio.Future[None]) -> None:
        """Settle ``done`` like ``durable``: an fsync that failed means not durable."""
        retry_after_ms = self._retry_after_ms

        def settle(synced: asyncio.Future[None]) -> None:
            if done.done():
                return
            error = "cancelled" if synced.cancelled() else synced.exception()
            if error is None:
                done.set_result(None)
                return
            text = f"Kafka is unreachable and the spool could not sync: {error}"
            done.set_exception(Unavailable(reasons.KAFKA_UNAVAILABLE, text, retry_after_ms))

        durable.add_done_callback(settle)
