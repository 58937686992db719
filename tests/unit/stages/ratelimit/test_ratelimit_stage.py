"""RateLimitStage: charges accepted readings per tenant and device, then hands the batch on."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from sluice.core import reasons
from sluice.core._wire import WireBatch, walk
from sluice.core.batch import Batch, ReadingFault
from sluice.core.config.ratelimit import BucketConfig, RateLimitConfig, TenantLimits
from sluice.core.errors import RateLimited
from sluice.ops.metrics import Metrics
from sluice.stages.ratelimit.limiter import RateLimiter
from sluice.stages.ratelimit.stage import RateLimitStage, accepted_per_device
from sluice.v1.ingest_pb2 import Reading, ReadingBatch
from tests.support.sinks import RecordingSink


def make_batch(
    devices: list[str], faulty: tuple[int, ...] = (), tenant: str = "acme", walked: bool = False
) -> Batch:
    message = ReadingBatch(seq=1, readings=[Reading(device_id=d, metric="t") for d in devices])
    raw = message.SerializeToString()
    return Batch(
        tenant=tenant,
        raw=raw,
        parsed=(walk(raw) or message) if walked else message,
        received_unix_ns=0,
        received_monotonic=0.0,
        done=asyncio.get_running_loop().create_future(),
        faults=[ReadingFault(index=i, reason=reasons.METRIC_INVALID, message="") for i in faulty],
        accepted=len(devices) - len(faulty),
    )


def make_stage(
    limits: TenantLimits, device_buckets: bool = True
) -> tuple[RateLimitStage, RecordingSink]:
    config = RateLimitConfig(default=limits, tenants={"free": TenantLimits()})
    limiter = RateLimiter(config, Metrics(CollectorRegistry()), clock=lambda: 0.0)
    recorder = RecordingSink(hold=True)
    return RateLimitStage(limiter, recorder, device_buckets=device_buckets), recorder


DEVICE_LIMIT_2 = TenantLimits(device_readings=BucketConfig(rate=1, burst=2))
TENANT_LIMIT_2 = TenantLimits(readings=BucketConfig(rate=1, burst=2))
DEVICE_LIMIT_4 = TenantLimits(device_readings=BucketConfig(rate=1, burst=4))
TENANT_LIMIT_4 = TenantLimits(readings=BucketConfig(rate=1, burst=4))


@pytest.mark.parametrize(
    ("devices", "faulty", "expected"),
    [
        (["a", "a", "b"], (), {"a": 2, "b": 1}),
        (["a", "a", "b"], (1,), {"a": 1, "b": 1}),
        (["a", "a", "b"], (2,), {"a": 2}),
        (["a", "b", "a", "c"], (0, 2), {"b": 1, "c": 1}),
        (["", "dév-1", ""], (), {"": 2, "dév-1": 1}),
        (["", "x"], (0,), {"x": 1}),
        ([], (), {}),
    ],
)
@pytest.mark.parametrize("walked", [False, True], ids=["parsed", "walked"])
async def test_accepted_per_device_counts_only_readings_without_a_fault(
    devices: list[str], faulty: tuple[int, ...], expected: dict[str, int], walked: bool
) -> None:
    batch = make_batch(devices, faulty, walked=walked)
    assert isinstance(batch.parsed, WireBatch) is walked
    assert accepted_per_device(batch) == expected


@pytest.mark.parametrize(
    ("limits", "devices", "faulty", "admitted"),
    [
        (DEVICE_LIMIT_4, ["a", "a"], (), True),
        (DEVICE_LIMIT_4, ["a", "a", "a"], (), False),
        (DEVICE_LIMIT_4, ["a", "a", "a"], (1,), True),  # the faulty reading is not charged
        (DEVICE_LIMIT_4, ["b", "a", "b", "b", "a", "b"], (), True),
        (TENANT_LIMIT_4, ["a", "b"], (), True),
        (TENANT_LIMIT_4, ["a", "b", "c"], (), False),
        (TENANT_LIMIT_4, ["a", "b", "c"], (0,), True),
    ],
)
async def test_consume_charges_the_accepted_readings(
    limits: TenantLimits, devices: list[str], faulty: tuple[int, ...], admitted: bool
) -> None:
    stage, recorder = make_stage(limits)
    await stage.consume(make_batch(["a", "a"]))  # leaves 2 readings for device a and the tenant
    batch = make_batch(devices, faulty)
    if admitted:
        await stage.consume(batch)
        assert recorder.batches[-1] is batch
    else:
        with pytest.raises(RateLimited):
            await stage.consume(batch)
        assert batch not in recorder.batches


async def test_a_refused_device_batch_says_which_device() -> None:
    stage, recorder = make_stage(DEVICE_LIMIT_2)
    await stage.consume(make_batch(["hot"]))
    with pytest.raises(RateLimited) as raised:
        await stage.consume(make_batch(["ok", "hot", "hot", "ok"]))
    assert raised.value.reason == reasons.RATE_LIMITED_DEVICE
    assert "'hot'" in raised.value.message
    assert len(recorder.batches) == 1


async def test_a_batch_with_nothing_accepted_passes_even_when_the_bucket_is_empty() -> None:
    stage, recorder = make_stage(TENANT_LIMIT_2)
    await stage.consume(make_batch(["a", "b"]))
    rejected = make_batch(["a", "b", "c"], faulty=(0, 1, 2))
    await stage.consume(rejected)
    assert recorder.batches[-1] is rejected
    with pytest.raises(RateLimited):
        await stage.consume(make_batch(["a"]))


async def test_device_buckets_switched_off_are_not_applied() -> None:
    stage, recorder = make_stage(DEVICE_LIMIT_2, device_buckets=False)
    batches = [make_batch(["a"] * 10) for _ in range(3)]
    for batch in batches:
        await stage.consume(batch)
    assert recorder.batches == batches


async def test_tenants_without_device_limits_are_not_limited_per_device() -> None:
    stage, recorder = make_stage(DEVICE_LIMIT_2)
    batches = [make_batch(["a"] * 10, tenant="free") for _ in range(3)]
    for batch in batches:
        await stage.consume(batch)
    assert recorder.batches == batches


async def test_start_and_shutdown_are_idempotent() -> None:
    stage, recorder = make_stage(TENANT_LIMIT_2)
    await stage.shutdown()
    await stage.start()
    await stage.start()
    batch = make_batch(["a"])
    await stage.consume(batch)
    await stage.shutdown()
    await stage.shutdown()
    assert recorder.batches == [batch]
