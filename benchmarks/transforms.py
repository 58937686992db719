"""What each transform costs per reading, measured in-process on one core.

Each case checks the same 100-reading batches through the check stage's checker (or the
rate-limit stage), differing from the base case in one transform only:

- ``base``: plain readings, canonical units, no location, nothing to rewrite;
- ``unit_conversion``: every reading in a non-canonical unit (°F, fraction, kPa, mV);
- ``geohash``: every reading with a location, so a geohash is added (cached per position);
- ``device_buckets``: the base batches through the rate-limit stage with per-device buckets,
  against the same stage without them.

The cost of a transform is its case's time per reading minus the base's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from benchmarks.workloads import WORKLOADS, BatchFactory, BatchHeader, Workload
from sluice.core._wire import walk
from sluice.core.batch import Batch
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.core.config.ratelimit import RateLimitConfig
from sluice.ops.metrics import Metrics
from sluice.stages.process.checker import ReadingChecker
from sluice.stages.ratelimit.limiter import RateLimiter
from sluice.stages.ratelimit.stage import RateLimitStage
from sluice.v1.ingest_pb2 import ReadingBatch

BATCHES = 64
BATCH_SIZE = 100
ROUNDS = 5
CASES = {
    "base": Workload("base", tags=2, located_share=0.0, foreign_unit_share=0.0, invalid_share=0),
    "unit_conversion": Workload(
        "units", tags=2, located_share=0.0, foreign_unit_share=1.0, invalid_share=0
    ),
    "geohash": Workload(
        "geohash", tags=2, located_share=1.0, foreign_unit_share=0.0, invalid_share=0
    ),
}


def _batches(workload: Workload) -> list[bytes]:
    factory = BatchFactory(workload, seed=7)
    header = BatchHeader("transforms", "session")
    return [
        header.encode(seq, body) for seq, body in enumerate(factory.bodies(BATCHES, BATCH_SIZE), 1)
    ]


def _best_ns_per_reading(run: Callable[[bytes], object], raws: list[bytes]) -> float:
    for raw in raws:  # warm the caches
        run(raw)
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for raw in raws:
            run(raw)
        best = min(best, time.perf_counter() - start)
    return best / (len(raws) * BATCH_SIZE) * 1e9


def _check_cost(workload: Workload) -> float:
    checker = ReadingChecker(ChecksConfig(), TransformsConfig())

    def run(raw: bytes) -> object:
        return checker.check(walk(raw) or ReadingBatch.FromString(raw), time.time_ns())

    return _best_ns_per_reading(run, _batches(workload))


class _Drop:
    """The stage after the one measured: settles each batch, keeps nothing."""

    async def start(self) -> None:
        """Nothing to start."""

    async def shutdown(self) -> None:
        """Nothing to drain."""

    async def consume(self, batch: Batch) -> None:
        batch.done.set_result(None)


def _limit_cost(device_buckets: bool) -> float:
    config = RateLimitConfig.model_validate(
        {"default": {"device_readings": {"rate": 1e12, "burst": 1e12}}}
    )
    limiter = RateLimiter(config, Metrics(CollectorRegistry()))
    stage = RateLimitStage(limiter, _Drop(), device_buckets=device_buckets)
    loop = asyncio.new_event_loop()

    def run(raw: bytes) -> object:
        walked = walk(raw)
        assert walked is not None
        batch = Batch("bench", raw, walked, 0, 0.0, loop.create_future())
        batch.accepted = walked.count
        return loop.run_until_complete(stage.consume(batch))

    try:
        return _best_ns_per_reading(run, _batches(WORKLOADS["plain"]))
    finally:
        loop.close()


def measure() -> dict[str, Any]:
    """ns per reading of each case, and each transform's cost over its base."""
    checks = {name: _check_cost(workload) for name, workload in CASES.items()}
    with_buckets, without = _limit_cost(True), _limit_cost(False)
    return {
        "ns_per_reading": {
            **{name: round(value, 1) for name, value in checks.items()},
            "rate_limit_without_device_buckets": round(without, 1),
            "rate_limit_with_device_buckets": round(with_buckets, 1),
        },
        "transform_cost_ns": {
            "unit_conversion": round(checks["unit_conversion"] - checks["base"], 1),
            "geohash": round(checks["geohash"] - checks["base"], 1),
            "device_buckets": round(with_buckets - without, 1),
        },
    }


if __name__ == "__main__":
    print(measure())
