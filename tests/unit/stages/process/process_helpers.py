"""Helpers for the check-stage tests: a recording next stage, valid readings, a harness."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from sluice.core._wire import walk
from sluice.core.batch import Batch
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.ops.metrics import Metrics
from sluice.stages.process.stage import CheckStage
from sluice.v1.ingest_pb2 import Reading, ReadingBatch
from tests.support.sinks import RecordingSink

NOW = 1_700_000_000_123_456_789
"""The receipt time every harness clock returns (2023-11-14T22:13:20Z)."""


def valid_reading(**fields: Any) -> Reading:
    """A reading that passes every default check, with ``fields`` overriding its fields."""
    values: dict[str, Any] = {
        "device_id": "dev-1",
        "metric": "temperature",
        "value": 21.5,
        "unit": "°C",
        "time_unix_nano": NOW - 1_000_000_000,
    }
    values.update(fields)
    return Reading(**values)


class Harness:
    """Builds a CheckStage over a RecordingSink and pushes real batches through it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.next = RecordingSink(hold=True)
        self.stage: CheckStage | None = None

    def build(
        self, checks: ChecksConfig | None = None, transforms: TransformsConfig | None = None
    ) -> CheckStage:
        """A fresh stage (and metrics registry) with the given configs."""
        self.registry = CollectorRegistry()
        self.stage = CheckStage(
            checks or ChecksConfig(),
            transforms or TransformsConfig(),
            Metrics(self.registry),
            self.next,
            clock=lambda: NOW,
        )
        return self.stage

    async def run(self, *readings: Reading, raw: bytes | None = None) -> Batch:
        """Hand one batch of ``readings`` to the stage (built with defaults if not yet built)
        and return the batch the next stage received."""
        stage = self.stage or self.build()
        message = ReadingBatch(seq=7, source_id="gw-1", readings=list(readings))
        raw = message.SerializeToString() if raw is None else raw
        batch = Batch(
            tenant="acme",
            raw=raw,
            parsed=walk(raw) or message,
            received_unix_ns=NOW,
            received_monotonic=0.0,
            done=asyncio.get_running_loop().create_future(),
        )
        handed_on = len(self.next.batches)
        await stage.consume(batch)
        assert len(self.next.batches) == handed_on + 1
        assert self.next.batches[-1] is batch
        return batch

    def rejected(self, reason: str) -> float | None:
        """The value of ``sluice_readings_rejected_total{reason=...}``."""
        return self.registry.get_sample_value("sluice_readings_rejected_total", {"reason": reason})
