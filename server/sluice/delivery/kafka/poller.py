"""The thread that polls librdkafka and hands each poll round to the event loop in one call.

Delivery reports and client callbacks run only inside ``poll()`` or ``flush()``, so exactly
one thread calls them at a time: the poller while it runs, then ``drain`` at shutdown. Each
round's reports reach the event loop through ONE ``call_soon_threadsafe``.

The poller also watches the client:
- every broker down (``_ALL_BROKERS_DOWN``): reported through ``all_brokers_down``, which
  trips the circuit breaker (``sluice.delivery.breaker``; it probes its own way back);
- a broken idempotent producer: a fatal client error, or an epoch storm. Tansu forgets
  producer ids when it restarts, and librdkafka then bumps its producer epoch a few times a
  second, forever, without ever raising a fatal error; the statistics show it.

A producer replaced by ``use(..., hand_over=True)`` is not dropped: its queue is purged and it
is polled until every record it has in flight is reported. Purging the queue of a producer
that goes on producing would make librdkafka bump its idempotent epoch, which a broker may
refuse (Tansu fences it), failing later records out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Final, Generic, TypeVar

from confluent_kafka import KafkaError, Producer

from sluice.delivery.kafka.outcomes import is_producer_fatal

log = logging.getLogger(__name__)

POLL_INTERVAL_S: Final = 0.1
DRAIN_ROUND_S: Final = 0.1
STATS_INTERVAL_MS: Final = 1000
EPOCH_STORM: Final = 3
"""Producer-epoch bumps within one statistics interval that mean the producer is wedged."""

_EPOCH = re.compile(r'"producer_epoch":\s*(-?\d+)')

E = TypeVar("E")
Fatal = tuple[int, str]
"""A broken producer: its generation, and what broke it."""


class DeliveryPoller(Generic[E]):
    """Polls the current producer on its own thread and settles reports on the event loop.

    ``settle(reports, fatal, now)`` runs on the loop once per round that has anything to
    say: ``reports`` are ``(entry, generation, error)`` for each delivery report, ``fatal``
    names a broken producer generation, and ``now`` is the monotonic time of the round.
    ``all_brokers_down(generation)`` is called on the polling thread.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        settle: Callable[[list[tuple[E, int, KafkaError | None]], Fatal | None, float], None],
        all_brokers_down: Callable[[int], None],
    ) -> None:
        self._loop = loop
        self._settle = settle
        self._all_brokers_down = all_brokers_down
        self._producer: Producer | None = None
        self._generation = 0
        self._retired: deque[Producer] = deque()
        self._handed_over: deque[Producer] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-poller", daemon=True)
        # Touched only by the thread that polls.
        self._reports: list[tuple[E, int, KafkaError | None]] = []
        self._fatal: Fatal | None = None
        self._last_epoch: tuple[int, int] | None = None
        self._draining: list[Producer] = []

    def client_settings(self, generation: int) -> dict[str, Any]:
        """The callbacks (and statistics interval) a producer of ``generation`` needs."""
        return {
            "statistics.interval.ms": STATS_INTERVAL_MS,
            "error_cb": partial(self._on_error, generation),
            "stats_cb": partial(self._on_stats, generation),
        }

    def on_delivery(self, entry: E, generation: int) -> Callable[[KafkaError | None, Any], None]:
        """The delivery callback for ``entry`` produced by the producer of ``generation``."""
        return partial(self._collect, entry, generation)

    def use(self, producer: Producer, generation: int, hand_over: bool = False) -> None:
        """Poll ``producer`` from now on. The one it replaces is purged and dropped; or, with
        ``hand_over``, gives back only what it has not sent (purged from its queue, each
        record reported ``_PURGE_QUEUE``) and is polled until its records in flight are
        reported too. Its epoch is never bumped for new records: it gets none."""
        old = self._producer
        self._producer, self._generation = producer, generation
        if old is not None:
            (self._handed_over if hand_over else self._retired).append(old)

    def start(self) -> None:
        """Start the polling thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the polling thread and wait for it (blocking: run it off the event loop)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def drain(self, deadline: float, busy: Callable[[], bool]) -> None:
        """After ``stop``: flush until nothing is queued and ``busy()`` is false, or until
        ``deadline``; then purge what is left so every record gets its report (blocking)."""
        producer = self._producer
        if producer is None:
            return
        while True:
            left = deadline - time.monotonic()
            remaining = producer.flush(max(0.0, min(DRAIN_ROUND_S, left)))
            self._retire()
            remaining += self._drain_handed_over()
            self._ship()
            if (remaining == 0 and not busy()) or left <= 0:
                break
        for client in (producer, *self._draining):
            client.purge()
            client.poll(0)
        self._draining.clear()
        self._ship()

    def release(self) -> None:
        """Drop the poller's producer (blocking: librdkafka's destroy may take a while)."""
        self._producer = None
        self._retire()

    def _run(self) -> None:
        while not self._stop.is_set():
            producer = self._producer
            if producer is None:
                return
            producer.poll(POLL_INTERVAL_S)
            self._retire()
            self._drain_handed_over()
            self._ship()

    def _collect(self, entry: E, generation: int, error: KafkaError | None, _: Any) -> None:
        self._reports.append((entry, generation, error))

    def _ship(self) -> None:
        reports, fatal = self._reports, self._fatal
        if not reports and fatal is None:
            return
        self._reports = []
        self._fatal = None
        with contextlib.suppress(RuntimeError):  # the loop closed under us
            self._loop.call_soon_threadsafe(self._settle, reports, fatal, time.monotonic())

    def _retire(self) -> None:
        while self._retired:
            old = self._retired.popleft()
            old.purge()
            old.poll(0)  # its reports name a replaced generation, and are ignored
            del old

    def _drain_handed_over(self) -> int:
        """Purge the queues of producers handed over, and serve their reports; returns how
        many records they still hold (those emptied are dropped)."""
        while self._handed_over:
            old = self._handed_over.popleft()
            old.purge(in_queue=True, in_flight=False)
            self._draining.append(old)
        held = 0
        for old in list(self._draining):
            old.poll(0)
            left = len(old)
            if left == 0:
                self._draining.remove(old)
            held += left
        return held

    def _on_error(self, generation: int, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._all_brokers_down(generation)
        if is_producer_fatal(error) and generation == self._generation:
            self._fatal = (generation, f"{error.name()}: {error.str()}")
        log.warning(
            "Kafka client error",
            extra={"error": error.name(), "detail": error.str(), "fatal": bool(error.fatal())},
        )

    def _on_stats(self, generation: int, stats: str) -> None:
        match = _EPOCH.search(stats)
        if match is None:
            return
        epoch = int(match[1])
        last, self._last_epoch = self._last_epoch, (generation, epoch)
        if last is None or last[0] != generation or generation != self._generation:
            return
        if epoch - last[1] >= EPOCH_STORM:
            self._fatal = (
                generation,
                f"producer epoch bumped {epoch - last[1]} times in {STATS_INTERVAL_MS} ms: "
                "the cluster keeps refusing the producer id",
            )
