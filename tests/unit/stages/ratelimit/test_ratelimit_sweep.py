"""RateLimiter memory: refilled device and tenant buckets are swept, so the map stays bounded."""

from __future__ import annotations

import pytest
from ratelimit_helpers import (
    DEVICE_2,
    bucket,
    make,
)

from sluice.core.config.ratelimit import TenantLimits
from sluice.core.errors import RateLimited


async def test_refilled_device_buckets_are_swept() -> None:
    limiter, clock, _ = make(default=DEVICE_2, sweep_interval_s=5.0)
    for device in range(100):
        await limiter.admit_readings("acme", {f"d{device}": 1}, 1)
    assert limiter.device_bucket_count == 100
    clock.now += 0.1  # not refilled yet, and not time to sweep
    await limiter.admit_readings("acme", {"d0": 1}, 1)
    assert limiter.device_bucket_count == 100
    clock.now += 5.0
    await limiter.admit_readings("acme", {"fresh": 1}, 1)
    assert limiter.device_bucket_count == 1


async def test_device_buckets_still_refilling_are_kept() -> None:
    limiter, clock, _ = make(default=TenantLimits(device_readings=bucket(1, 4)), sweep_interval_s=5)
    await limiter.admit_readings("acme", {"idle": 1}, 1)
    await limiter.admit_readings("acme", {"busy": 40}, 40)  # 36 in debt: 40 s to refill
    clock.now += 6.0
    await limiter.admit_readings("acme", {"other": 1}, 1)
    assert limiter.device_bucket_count == 2  # busy and other; idle refilled and went
    with pytest.raises(RateLimited):
        await limiter.admit_readings("acme", {"busy": 1}, 1)


async def test_a_busy_device_does_not_keep_idle_ones_from_being_swept() -> None:
    limiter, clock, _ = make(default=DEVICE_2, sweep_interval_s=1.0)
    await limiter.admit_readings("acme", {"busy": 4}, 4)
    for device in range(10):
        await limiter.admit_readings("acme", {f"idle-{device}": 1}, 1)
    for _ in range(10):
        clock.now += 0.5
        await limiter.admit_readings("acme", {"busy": 1}, 1)  # never refills
    assert limiter.device_bucket_count == 1


async def test_device_bucket_count_stays_bounded_under_churn() -> None:
    limiter, clock, _ = make(default=DEVICE_2, sweep_interval_s=1.0)
    highest = 0
    for step in range(2000):
        await limiter.admit_readings("acme", {f"device-{step}": 4}, 4)
        clock.now += 0.1
        highest = max(highest, limiter.device_bucket_count)
    # a bucket drained at t refills by t + 2 s and goes at the next sweep (every 1 s)
    assert highest <= 40


async def test_idle_tenants_are_swept_too() -> None:
    limits = TenantLimits(readings=bucket(10, 10), device_readings=bucket(2, 4))
    limiter, clock, _ = make(default=limits, sweep_interval_s=1.0)
    for tenant in ("a", "b", "c"):
        await limiter.admit_readings(tenant, {"d": 1}, 1)
        assert limiter.allow_dlq(tenant)
    assert limiter.tenant_count == 3
    clock.now += 1000.0
    await limiter.admit_readings("a", {"d": 1}, 1)
    assert limiter.tenant_count == 1
    assert limiter.device_bucket_count == 1
