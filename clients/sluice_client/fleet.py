"""A simulated fleet of devices streaming readings at a target rate through IngestClients."""

import asyncio
import contextlib
import math
import random
import time
from dataclasses import dataclass, field

from sluice_client.backoff import Backoff
from sluice_client.channel import TlsOptions
from sluice_client.client import DEFAULT_MAX_INFLIGHT, IngestClient
from sluice_client.devices import ReadingFactory, make_devices
from sluice_client.errors import AckTimeout

DEFAULT_DEVICES = 100
MAX_DEVICES = 100_000
"""Every device is built before the first reading (~1 KB and ~70 µs each), so a fleet's
size is bounded: a larger one is refused at once rather than built for minutes."""
DEFAULT_RATE = 1000.0
DEFAULT_BATCH_SIZE = 100
DEFAULT_LINGER_S = 0.05
DEFAULT_SOURCE_ID = "sluice-sim"
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_CLOSE_TIMEOUT_S = 10.0
PACING_TICK_S = 0.005
MAX_BACKLOG_S = 1.0
"""A stream more than this far behind its schedule (the server pushes back) drops the
backlog instead of bursting to catch up."""


@dataclass(frozen=True, slots=True)
class FleetStats:
    """What a fleet has generated, and what the server has answered, so far."""

    elapsed_s: float = 0.0
    readings_generated: int = 0
    invalid_generated: int = 0
    readings_sent: int = 0
    readings_accepted: int = 0
    readings_rejected: int = 0
    batches_acked: int = 0
    resends: int = 0
    reconnects: int = 0
    unacknowledged_batches: int = 0
    rejections_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def readings_acknowledged(self) -> int:
        """Readings with a final answer: accepted plus rejected."""
        return self.readings_accepted + self.readings_rejected


class Fleet:
    """``devices`` simulated devices sending ``rate`` readings/s in total over ``streams``
    IngestClients (one stream each; ``rate`` 0 means as fast as the server takes them).

    Devices are dealt to streams round-robin. With several streams, stream ``n`` uses the
    source_id ``{source_id}-{n}``. ``stats`` may be polled while ``run()`` runs.
    """

    def __init__(
        self,
        target: str,
        *,
        devices: int = DEFAULT_DEVICES,
        rate: float = DEFAULT_RATE,
        streams: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
        linger_s: float = DEFAULT_LINGER_S,
        invalid_fraction: float = 0.0,
        source_id: str = DEFAULT_SOURCE_ID,
        seed: int | None = None,
        token: str | None = None,
        tls: TlsOptions | None = None,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        backoff: Backoff | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        close_timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S,
    ) -> None:
        if not 1 <= devices <= MAX_DEVICES or streams < 1 or streams > devices:
            raise ValueError(f"need 1 <= devices <= {MAX_DEVICES:,} and 1 <= streams <= devices")
        if not math.isfinite(rate) or rate < 0:
            raise ValueError("rate must be finite and not negative (0 means unlimited)")
        rng = random.Random(seed)
        every_device = make_devices(devices, rng, prefix=f"{source_id}-dev")
        self._factories = [
            ReadingFactory(every_device[n::streams], random.Random(rng.random()), invalid_fraction)
            for n in range(streams)
        ]
        self._clients = [
            IngestClient(
                target,
                source_id=source_id if streams == 1 else f"{source_id}-{n}",
                max_batch_readings=batch_size,
                linger_s=linger_s,
                max_inflight=max_inflight,
                backoff=backoff,
                token=token,
                tls=tls,
            )
            for n in range(streams)
        ]
        self._rate_per_stream = rate / streams
        self._batch_size = batch_size
        self._connect_timeout_s = connect_timeout_s
        self._close_timeout_s = close_timeout_s
        self._started_at: float | None = None
        self._ended_at: float | None = None

    @property
    def clients(self) -> list[IngestClient]:
        """The fleet's clients, one per stream."""
        return list(self._clients)

    @property
    def stats(self) -> FleetStats:
        """Totals over every stream, as of now."""
        per_client = [client.stats for client in self._clients]
        by_reason: dict[str, int] = {}
        for stats in per_client:
            for reason, count in stats.rejections_by_reason.items():
                by_reason[reason] = by_reason.get(reason, 0) + count
        started = self._started_at
        ended = self._ended_at if self._ended_at is not None else time.monotonic()
        return FleetStats(
            elapsed_s=0.0 if started is None else ended - started,
            readings_generated=sum(factory.made for factory in self._factories),
            invalid_generated=sum(factory.invalid_made for factory in self._factories),
            readings_sent=sum(stats.readings_sent for stats in per_client),
            readings_accepted=sum(stats.readings_accepted for stats in per_client),
            readings_rejected=sum(stats.readings_rejected for stats in per_client),
            batches_acked=sum(stats.batches_acked for stats in per_client),
            resends=sum(stats.resends for stats in per_client),
            reconnects=sum(stats.reconnects for stats in per_client),
            unacknowledged_batches=sum(stats.unacknowledged_batches for stats in per_client),
            rejections_by_reason=by_reason,
        )

    async def run(self, stop: asyncio.Event | float | None = None) -> FleetStats:
        """Connects, streams until ``stop`` is set or ``stop`` seconds pass (None: until
        cancelled), then flushes and closes every client and returns the final stats.

        Raises ``ConnectError`` if the server cannot be reached within ``connect_timeout_s``,
        and ``CallFailed`` if the server ends a stream for good. Batches still unacknowledged
        after ``close_timeout_s`` show in ``unacknowledged_batches``.
        """
        if self._started_at is not None:
            raise RuntimeError("a Fleet runs once")
        starts = [client.start(self._connect_timeout_s) for client in self._clients]
        for result in await asyncio.gather(*starts, return_exceptions=True):
            if isinstance(result, BaseException):
                await self._close_all()
                raise result
        self._started_at = time.monotonic()
        producers = [
            asyncio.create_task(self._produce(client, factory), name=f"sluice-sim-{n}")
            for n, (client, factory) in enumerate(zip(self._clients, self._factories, strict=True))
        ]
        try:
            await self._until_stopped(stop, producers)
        finally:
            for producer in producers:
                producer.cancel()
            results = await asyncio.gather(*producers, return_exceptions=True)
            await self._close_all()
            self._ended_at = time.monotonic()
        for result in results:
            if isinstance(result, Exception):
                raise result
        return self.stats

    async def _until_stopped(
        self, stop: asyncio.Event | float | None, producers: list[asyncio.Task[None]]
    ) -> None:
        waiters: set[asyncio.Task[object]] = set(producers)
        stop_waiter = None
        if isinstance(stop, asyncio.Event):
            stop_waiter = asyncio.create_task(stop.wait())
            waiters.add(stop_waiter)
        timeout = stop if isinstance(stop, int | float) else None
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if stop_waiter is not None:
                stop_waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stop_waiter

    async def _close_all(self) -> None:
        closing = [client.close(self._close_timeout_s) for client in self._clients]
        for result in await asyncio.gather(*closing, return_exceptions=True):
            if isinstance(result, BaseException) and not isinstance(result, AckTimeout):
                raise result

    async def _produce(self, client: IngestClient, factory: ReadingFactory) -> None:
        rate = self._rate_per_stream
        batch_size = self._batch_size
        start = time.monotonic()
        produced = 0
        while True:
            if rate <= 0:
                count = batch_size
                await asyncio.sleep(0)
            else:
                elapsed = time.monotonic() - start
                due = int(elapsed * rate) - produced
                if due <= 0:
                    await asyncio.sleep(max((produced + 1) / rate - elapsed, PACING_TICK_S))
                    continue
                if due > rate * MAX_BACKLOG_S:
                    start += (due - batch_size) / rate
                    due = batch_size
                count = min(due, batch_size)
            await client.send_many(factory.make(count))
            produced += count
