"""Assembles the stages into one pipeline: checks → rate limit → batcher → durable sink.

The rate-limit stage is left out when no tenant has a readings or per-device bucket.
"""

from __future__ import annotations

from sluice.core.config.settings import Settings
from sluice.delivery.sink import DurableSink
from sluice.ops.metrics import Metrics
from sluice.stages.batcher import RecordBuilder
from sluice.stages.process.stage import CheckStage
from sluice.stages.ratelimit.limiter import RateLimiter
from sluice.stages.ratelimit.stage import RateLimitStage
from sluice.stages.stage import Stage


class Pipeline:
    """Every stage after the receiver, started sink-first and stopped head-first."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.limiter = RateLimiter(settings.ratelimit, metrics)
        self.sink = sink = DurableSink(settings.kafka, metrics, settings.spool)
        builder = RecordBuilder(settings.kafka, self.limiter.allow_dlq, sink)
        after_checks: list[Stage] = [builder, sink]
        if self.limiter.limits_readings:  # without a readings bucket the stage has nothing to do
            after_checks.insert(0, RateLimitStage(self.limiter, builder))
        checks = CheckStage(settings.checks, settings.transforms, metrics, after_checks[0])
        self.head: Stage = checks
        self._stages: list[Stage] = [checks, *after_checks]

    def accepting(self) -> bool:
        """False when no batch can be made durable: Kafka unreachable and no spool room."""
        return self.sink.accepting

    async def start(self) -> None:
        """Start every stage, downstream first, so each has somewhere to send."""
        for stage in reversed(self._stages):
            await stage.start()

    async def shutdown(self) -> None:
        """Stop every stage, upstream first, so each drains into a live next stage."""
        for stage in self._stages:
            await stage.shutdown()
