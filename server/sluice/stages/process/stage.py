"""The pipeline stage that checks and transforms every reading of a batch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sluice.core import reasons
from sluice.core.batch import Batch, reading_count
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.core.errors import BatchRejected
from sluice.ops.metrics import Metrics
from sluice.stages.process.checker import ReadingChecker
from sluice.stages.process.registry import load_registry
from sluice.stages.stage import Stage


class CheckStage:
    """Refuses batches over the batch limits, checks and transforms every reading, and hands
    the batch on with ``faults``, ``accepted``, ``changed`` and ``value`` set.

    A batch is handed on even when no reading passed: its faults go to the dead-letter
    topic downstream. Batch-level refusals raise ``BatchRejected`` and are counted by the
    receiver; this stage counts the per-reading faults by reason.
    ``clock`` gives the receipt time in Unix ns, read once per batch, that event times are
    checked against and that unset times take.
    """

    def __init__(
        self,
        checks: ChecksConfig,
        transforms: TransformsConfig,
        metrics: Metrics,
        next_stage: Stage,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._checks = checks
        self._transforms = transforms
        self._next = next_stage
        self._clock = clock
        self._checker = ReadingChecker(checks, transforms)
        self._rejected = {
            reason: metrics.tallies.count(metrics.readings_rejected.labels(reason=reason))
            for reason in reasons.READING_REASONS
        }

    async def start(self) -> None:
        """Load the device registry, if one is configured (``ConfigError`` if it is bad)."""
        path = self._transforms.device_registry
        if path is not None:
            precision = self._transforms.geohash_precision
            registry = await asyncio.to_thread(load_registry, path, precision)
            self._checker.use_registry(registry)

    async def shutdown(self) -> None:
        """Nothing to drain: a batch is handed on within ``consume``."""

    def consume(self, batch: Batch) -> Awaitable[None]:
        """Check ``batch`` against the batch limits, then every reading; hand it on."""
        checks = self._checks
        size = len(batch.raw)
        if size > checks.max_batch_bytes:
            raise BatchRejected(
                reasons.BATCH_TOO_LARGE,
                f"the batch is {size} bytes, the limit is "
                f"checks.max_batch_bytes={checks.max_batch_bytes}",
            )
        count = reading_count(batch.parsed)
        if count > checks.max_readings_per_batch:
            raise BatchRejected(
                reasons.BATCH_TOO_LARGE,
                f"the batch has {count} readings, the limit is "
                f"checks.max_readings_per_batch={checks.max_readings_per_batch}",
            )
        faults, accepted, changed, value = self._checker.check(batch.parsed, self._clock())
        batch.checked(faults, accepted, changed, value)
        rejected = self._rejected
        for fault in faults:
            rejected[fault.reason].add()
        return self._next.consume(batch)
