"""Sluice's per-batch path with one of its own features switched off, for ``pipeline_cost``.

Each variant is wired as a worker wires its pipeline and admission (``Worker``, ``Pipeline``),
with one part replaced by the cheapest stand-in that keeps the path working, so that the
difference from the full path is what that feature costs per batch:

- ``metrics``: every family a no-op (no counter, gauge or histogram is touched);
- ``dedup``: no Ack cache (``server.dedup_entries: 0``: nothing remembered or joined);
- ``budget``: an in-flight budget that always has room and keeps no count or gauge;
- ``buckets``: no rate limiter: no byte bucket before the walk, no rate-limit stage (the
  dead-letter budget stays, or every faulty batch would add a dead-letter record);
- ``spool``: no spool behind the durable sink (``spool.enabled: false``);
- ``all``: every one of the above at once: what is left is the stages, the record and Ack
  building and the admission's own bookkeeping.

Spans are not a switch: with no OpenTelemetry exporter configured (as here), a worker makes
no span per batch at all. Nothing here is used by the server.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Final

from prometheus_client import CollectorRegistry

from sluice.core.config.settings import Settings
from sluice.delivery.sink import DurableSink
from sluice.frontdoors.receiver.admission import Admission
from sluice.frontdoors.receiver.budget import InflightBudget
from sluice.frontdoors.receiver.dedup import AckCache
from sluice.ops.metrics import HotPath, Metrics
from sluice.stages.batcher import RecordBuilder
from sluice.stages.process.stage import CheckStage
from sluice.stages.ratelimit.limiter import RateLimiter
from sluice.stages.ratelimit.stage import RateLimitStage
from sluice.stages.stage import Stage

FEATURES: Final = ("metrics", "dedup", "budget", "buckets", "spool")


class _NoMetric:
    """A counter, gauge or histogram (or a labelled child) that records nothing."""

    def labels(self, *_args: Any, **_labels: Any) -> _NoMetric:
        return self

    def inc(self, _amount: float = 1) -> None:
        pass

    def dec(self, _amount: float = 1) -> None:
        pass

    def set(self, _value: float) -> None:
        pass

    def observe(self, _value: float) -> None:
        pass


class _NoTally:
    """A tally that counts nothing."""

    def add(self, _amount: float = 1) -> None:
        pass

    def observe(self, _value: float) -> None:
        pass


class _NoTallies:
    """Tallies that count nothing."""

    def count(self, _target: object) -> _NoTally:
        return _NoTally()

    def histogram(self, _target: object, _buckets: object) -> _NoTally:
        return _NoTally()

    def by_label(self, _family: object, _label: str) -> _NoLabelledCounts:
        return _NoLabelledCounts()

    def reading(self, _target: object, _read: object) -> None:
        pass

    def add(self, _publisher: object) -> None:
        pass


class _NoLabelledCounts:
    """Tallies by label that count nothing."""

    def add(self, _value: str, _amount: float = 1) -> None:
        pass


def no_metrics() -> Metrics:
    """A ``Metrics`` whose every family and tally is a no-op."""
    metrics = Metrics(CollectorRegistry())
    for name, value in list(vars(metrics).items()):
        if hasattr(value, "collect"):
            setattr(metrics, name, _NoMetric())
    metrics.tallies = _NoTallies()  # type: ignore[assignment]
    metrics.hot = HotPath(*(_NoTally() for _ in fields(HotPath)))  # type: ignore[arg-type]
    return metrics


class _RoomyBudget:
    """An in-flight budget that never waits and counts nothing."""

    def try_acquire(self, _nbytes: int, _nreadings: int) -> bool:
        return True

    async def acquire(self, _nbytes: int, _nreadings: int, _timeout: float | None) -> bool:
        return True

    def release(self, _nbytes: int, _nreadings: int) -> None:
        pass


class _NoBuckets:
    """A limiter with no bucket at all (admission charges bytes to it)."""

    limits_bytes = False

    async def admit_bytes(self, _tenant: str, _nbytes: int) -> None:
        pass


class Variant:
    """The head of a pipeline and the admission in front of it, with ``off`` switched off."""

    def __init__(self, settings: Settings, off: frozenset[str]) -> None:
        unknown = off - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {FEATURES}")
        metrics = no_metrics() if "metrics" in off else Metrics(CollectorRegistry())
        self.sink = DurableSink(settings.kafka, metrics, None if "spool" in off else settings.spool)
        limiter = RateLimiter(settings.ratelimit, metrics)
        # The dead-letter budget stays: without it every faulty batch would add a record.
        builder = RecordBuilder(settings.kafka, limiter.allow_dlq, self.sink)
        limited: Stage = builder if "buckets" in off else RateLimitStage(limiter, builder)
        checks = CheckStage(settings.checks, settings.transforms, metrics, limited)
        self._stages: list[Stage] = [checks, limited, self.sink]
        server = settings.server
        self.admission = Admission(
            checks,
            _NoBuckets() if "buckets" in off else limiter,  # type: ignore[arg-type]
            _RoomyBudget()  # type: ignore[arg-type]
            if "budget" in off
            else InflightBudget(server.queue_max_bytes, server.queue_max_readings, metrics),
            AckCache(0 if "dedup" in off else server.dedup_entries),
            server,
            metrics,
        )

    async def start(self) -> None:
        """Start the stages, sink first."""
        for stage in reversed(self._stages):
            await stage.start()

    async def shutdown(self) -> None:
        """Stop the stages, head first."""
        for stage in self._stages:
            await stage.shutdown()
