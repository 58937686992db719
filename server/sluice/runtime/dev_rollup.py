"""The roll-up and the query API inside ``sluice dev``: SQLite, the local broker, one process.

Unless the config names its own store, the roll-up writes a SQLite file in the dev run's
temporary directory (the dev broker keeps nothing across runs either). The query API
listens on ``query.listen``, or on any free loopback port when that one is taken.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry

from sluice.core.config.rollup import DEFAULT_SQLITE_PATH
from sluice.core.config.settings import Settings
from sluice.downstream.query.metrics import QueryMetrics
from sluice.downstream.query.service import query_app, query_listener
from sluice.downstream.rollup.aggregate import HOUR_S
from sluice.downstream.rollup.metrics import RollupMetrics
from sluice.downstream.rollup.service import RollupService
from sluice.ops.server import CannotListen, OpsServer

log = logging.getLogger(__name__)

TANSU_CONSUMER: Final = {
    "session.timeout.ms": 2000,
    "heartbeat.interval.ms": 500,
    "fetch.wait.max.ms": 10,
}
"""Tansu joins a group quickly, and fetches with low latency, only with these."""
CATCH_UP_TIMEOUT_S: Final = 15.0


def with_dev_rollup(settings: Settings, directory: Path) -> Settings:
    """``settings`` with the roll-up tuned for the dev broker and its store in ``directory``."""
    rollup = settings.rollup
    store = rollup.store
    if store.backend == "sqlite" and store.sqlite_path == DEFAULT_SQLITE_PATH:
        store = store.model_copy(update={"sqlite_path": str(directory / "rollup.db")})
    rollup = rollup.model_copy(
        update={
            "store": store,
            "client": {**TANSU_CONSUMER, **rollup.client},
            "poll_timeout_s": min(rollup.poll_timeout_s, 0.2),
        }
    )
    return settings.model_copy(update={"rollup": rollup})


class EmbeddedRollup:
    """The roll-up consumer and the query listener of a ``sluice dev`` run, exporting their
    metrics in ``registry`` (the dev process's, beside the gateway's)."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self._settings = settings
        self._rollup_metrics = RollupMetrics(registry)
        self._query_metrics = QueryMetrics(registry)
        self._rollup = RollupService(settings, self._rollup_metrics)
        self._query: OpsServer | None = None

    @property
    def query_url(self) -> str:
        """The base URL of the query API; known once ``start()`` has returned."""
        if self._query is None:
            raise RuntimeError("EmbeddedRollup.query_url is known only after start()")
        return f"http://127.0.0.1:{self._query.port}"

    async def start(self) -> None:
        """Start the roll-up, then the query API."""
        await self._rollup.start()
        self._rollup_metrics.ready.set(1)
        app = query_app(self._settings, self._rollup.store, self._query_metrics)
        listener = query_listener(self._settings, app)
        try:
            await listener.start()
        except CannotListen as error:
            if error.errno != errno.EADDRINUSE:
                raise
            log.warning("query.listen %s is taken; using a free port", self._settings.query.listen)
            await listener.shutdown()
            listener = query_listener(self._settings, app, "127.0.0.1:0")
            await listener.start()
        self._query = listener
        self._query_metrics.ready.set(1)

    async def catch_up(self, readings: int) -> bool:
        """Wait until ``readings`` readings are rolled up (bounded); True if they were."""
        registry = self._rollup_metrics.registry
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while time.monotonic() < deadline:
            done = registry.get_sample_value("sluice_rollup_readings_total") or 0.0
            if done >= readings:
                return True
            await asyncio.sleep(0.1)
        return False

    def summary(self) -> str:
        """This hour's figures of each metric across the fleet, one line each."""
        store = self._rollup.store
        tenant = self._settings.auth.default_tenant
        hour = int(time.time()) // HOUR_S * HOUR_S
        devices = store.devices(tenant, "", 1)
        if not devices:
            return "roll-up: nothing rolled up yet"
        lines = [
            f"roll-up: this hour ({time.strftime('%H:00', time.gmtime(hour))} UTC), "
            f"across the fleet:"
        ]
        for metric in store.metrics(tenant, devices[0].device_id, "", 20):
            for bucket in store.fleet_buckets(tenant, metric.metric, (hour, hour + HOUR_S), 1):
                a = bucket.aggregate
                lines.append(
                    f"  {metric.metric:<12} devices {bucket.devices:>5,}  readings {a.count:>10,}"
                    f"  mean {a.mean:10.2f}  min {a.minimum:10.2f}  max {a.maximum:10.2f}"
                )
        return "\n".join(lines)

    async def shutdown(self) -> None:
        """Stop the query API, then the roll-up (it commits its last round). Idempotent."""
        self._query_metrics.ready.set(0)
        if self._query is not None:
            await self._query.shutdown()
        self._rollup_metrics.ready.set(0)
        await self._rollup.shutdown()
