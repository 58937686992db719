"""The watch over the circuit breaker: trips it on a stall, probes it while open, shows it.

The durable sink owns it with the breaker, and tells it each change of state (``show``).

A stall is records waiting ``stall_timeout_ms`` with no delivery report at all: a broker
that hangs (stopped, or behind a network that drops packets) never says it is down, so
waiting is the only sign. The probe is a metadata request for the readings topic, run off
the event loop; one runs at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Final

from sluice.core.tasks import cancel_and_wait
from sluice.delivery.breaker import BreakerState, CircuitBreaker
from sluice.ops.metrics import Metrics

log = logging.getLogger(__name__)

WATCH_INTERVAL_S: Final = 0.1


class BreakerWatch:
    """Checks for a stall and runs due probes every ``WATCH_INTERVAL_S`` on the event loop,
    and shows the breaker's state in ``sluice_broker_up`` and ``sluice_breaker_opened``.

    ``waiting_since()`` is the time from which records have waited with no delivery report
    (None when nothing waits); ``probe()`` blocks until Kafka answers, or raises.
    """

    def __init__(
        self,
        breaker: CircuitBreaker,
        metrics: Metrics,
        waiting_since: Callable[[], float | None],
        probe: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._breaker = breaker
        self._metrics = metrics
        self._waiting_since = waiting_since
        self._probe = probe
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._probing: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Show the breaker's state and start watching."""
        self._metrics.broker_up.set(0 if self._breaker.is_open else 1)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kafka-breaker-watch")

    async def stop(self) -> None:
        """Stop watching, and wait for a running probe (idempotent)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._probing is not None:
            with contextlib.suppress(Exception):
                await self._probing

    def check(self) -> None:
        """Trip on a stall, or start a due probe."""
        breaker = self._breaker
        if not breaker.is_open:
            since = self._waiting_since()
            if since is not None:
                waited = self._clock() - max(since, breaker.since)
                if waited >= breaker.stall_timeout_s:
                    breaker.trip(f"records waited {waited:.1f}s with no delivery report")
            return
        if self._probing is None and breaker.probe_due():
            loop = asyncio.get_running_loop()
            self._probing = loop.run_in_executor(None, self._probe)
            self._probing.add_done_callback(self._probed)

    def show(self, state: BreakerState) -> None:
        """The breaker changed to ``state``: ``sluice_broker_up``, ``sluice_breaker_opened``."""
        self._metrics.broker_up.set(0 if state is BreakerState.OPEN else 1)
        if state is BreakerState.OPEN:
            self._metrics.breaker_opened.inc()

    async def probe_now(self) -> bool:
        """Probe an open breaker at once rather than after its backoff; True unless it is
        still open."""
        breaker = self._breaker
        if breaker.is_open:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._probe)
            except Exception as exc:  # a probe fails however the client fails
                breaker.probe_failed(str(exc))
            else:
                breaker.probe_succeeded()
        return not breaker.is_open

    def _probed(self, probing: asyncio.Future[None]) -> None:
        self._probing = None
        error = None if probing.cancelled() else probing.exception()
        if error is None:
            self._breaker.probe_succeeded()
        else:
            self._breaker.probe_failed(str(error))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            try:
                self.check()
            except Exception:  # the watch must outlive any one bad round
                log.exception("breaker watch failed")
