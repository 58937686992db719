"""The roll-up as a component (``start``/``shutdown``) and as the ``sluice rollup`` process.

The consumer loop blocks, so it runs on a thread of its own; the asyncio loop serves the
ops listener (``rollup.ops_listen``: /metrics, /healthz, /readyz) and waits for SIGTERM or
SIGINT. A stop lets the current round finish its transaction and offset commit, then the
consumer leaves its group, the store closes, and the process exits 0 (1 if the consumer
died of an error).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

from sluice.core.config.settings import Settings
from sluice.downstream.rollup.backends import open_store
from sluice.downstream.rollup.consumer import RollupConsumer
from sluice.downstream.rollup.metrics import RollupMetrics
from sluice.downstream.rollup.store import RollupStore
from sluice.ops.app import build_ops_app
from sluice.ops.server import OpsServer

log = logging.getLogger(__name__)


class RollupService:
    """The roll-up consumer on its own thread, writing to ``store`` (or the configured one)."""

    def __init__(
        self, settings: Settings, metrics: RollupMetrics, store: RollupStore | None = None
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._store = store
        self._owns_store = store is None
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def store(self) -> RollupStore:
        """The store the roll-up writes; known once ``start()`` has returned."""
        if self._store is None:
            raise RuntimeError("RollupService.store is known only after start()")
        return self._store

    def running(self) -> bool:
        """True while the consumer thread runs and no stop was requested."""
        return self._task is not None and not self._task.done() and not self._stop.is_set()

    async def start(self) -> None:
        """Open the store if none was given, then start consuming."""
        if self._task is not None:
            return
        if self._store is None:
            self._store = await asyncio.to_thread(open_store, self._settings.rollup)
        consumer = RollupConsumer(
            self._settings.rollup, self._settings.kafka, self._store, self._metrics
        )
        self._task = asyncio.create_task(asyncio.to_thread(consumer.run, self._stop))

    async def wait(self) -> None:
        """Block until the consumer stops (a stop request, or an error ``shutdown()`` raises)."""
        if self._task is not None:
            await asyncio.wait((self._task,))

    async def shutdown(self) -> None:
        """Finish the current round, leave the group, close an owned store. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        try:
            if self._task is not None:
                await asyncio.shield(self._task)
        finally:
            if self._owns_store and self._store is not None:
                self._store.close()


async def serve_rollup(settings: Settings, metrics: RollupMetrics) -> int:
    """Run ``sluice rollup`` until SIGTERM or SIGINT; returns the exit code."""
    service = RollupService(settings, metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # A reload sent to every sluice process must not end this one (SIGHUP's default action).
    loop.add_signal_handler(signal.SIGHUP, log.info, "SIGHUP: sluice rollup has nothing to reload")
    app = build_ops_app(metrics.registry, service.running)
    ops = OpsServer(settings.rollup.ops_listen, app, key="rollup.ops_listen")
    failed = False
    try:
        await service.start()
        await ops.start()
        metrics.ready.set(1)
        log.info("sluice rollup ready", extra={"ops_port": ops.port})
        waiters = (asyncio.create_task(stop.wait()), asyncio.create_task(service.wait()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
    finally:
        metrics.ready.set(0)
        try:
            await service.shutdown()
        except Exception:
            failed = True
            log.exception("roll-up consumer failed")
        await ops.shutdown()
    log.info("sluice rollup stopped")
    return 1 if failed else 0
