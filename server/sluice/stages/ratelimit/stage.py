"""The pipeline stage that charges a batch's accepted readings to the rate limits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Mapping
from operator import attrgetter

from sluice.core._wire import WireBatch
from sluice.core.batch import Batch
from sluice.stages.ratelimit.limiter import RateLimiter
from sluice.stages.stage import Stage

_device_id = attrgetter("device_id")
_NO_DEVICES: Mapping[str, int] = {}


class RateLimitStage:
    """Admits each batch's accepted readings through ``limiter``, then hands the batch on.

    A batch with no accepted readings passes untouched. Per-device counts are only computed
    for tenants with per-device limits, and only when ``device_buckets`` is true (pass false
    to switch per-device limits off altogether). Refusals propagate as ``RateLimited``.
    """

    def __init__(
        self, limiter: RateLimiter, next_stage: Stage, device_buckets: bool = True
    ) -> None:
        self._limiter = limiter
        self._next = next_stage
        self._device_buckets = device_buckets

    async def start(self) -> None:
        """Nothing to acquire."""

    async def shutdown(self) -> None:
        """Nothing held: every batch is handed on within ``consume``."""

    def consume(self, batch: Batch) -> Awaitable[None]:
        """Charge the batch's accepted readings, then hand it to the next stage."""
        if not batch.accepted:
            return self._next.consume(batch)
        return self._charge_then_hand_on(batch)

    async def _charge_then_hand_on(self, batch: Batch) -> None:
        tenant = batch.tenant
        counts = _NO_DEVICES
        if self._device_buckets and self._limiter.has_device_buckets(tenant):
            counts = accepted_per_device(batch)
        await self._limiter.admit_readings(tenant, counts, batch.accepted)
        await self._next.consume(batch)


def accepted_per_device(batch: Batch) -> Mapping[str, int]:
    """How many of the batch's accepted readings (those without a fault) each device sent."""
    parsed = batch.parsed
    if isinstance(parsed, WireBatch):  # counted in C, from the wire bytes
        return parsed.device_counts([fault.index for fault in batch.faults])
    readings = parsed.readings
    counts = Counter(map(_device_id, readings))
    # Faults are few; subtracting them beats testing every reading against a set.
    for fault in batch.faults:
        device = readings[fault.index].device_id
        left = counts[device] - 1
        if left:
            counts[device] = left
        else:
            del counts[device]
    return counts
