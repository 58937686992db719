"""RateLimiter under ``delay``: sleeps until tokens are due, in arrival order, up to a bound."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from ratelimit_helpers import (
    BYTES_1K,
    DEVICE_2,
    TENANT_10,
    FakeClock,
    decisions,
    exhaust_and_ask,
    make,
)

from sluice.core import reasons
from sluice.core.config.ratelimit import RateLimitConfig, TenantLimits
from sluice.core.errors import RateLimited
from sluice.ops.metrics import Metrics
from sluice.stages.ratelimit.limiter import RateLimiter


@pytest.mark.parametrize(
    ("scope", "limits", "full", "more", "expected_sleep"),
    [
        ("tenant", TENANT_10, 10, 5, 0.5),
        ("device", DEVICE_2, 4, 3, 1.5),
        ("bytes", BYTES_1K, 1000, 250, 0.25),
    ],
)
async def test_delay_sleeps_until_the_tokens_are_due_then_admits(
    scope: str, limits: TenantLimits, full: int, more: int, expected_sleep: float
) -> None:
    limiter, clock, registry = make(default=limits, policy="delay")
    await exhaust_and_ask(limiter, scope, full, more)
    assert clock.slept == [pytest.approx(expected_sleep)]
    assert decisions(registry, scope, "delay") == 1
    assert decisions(registry, scope, "reject") == 0


async def test_delay_charges_the_admitted_request() -> None:
    limiter, clock, _ = make(default=TENANT_10, policy="delay")
    await limiter.admit_readings("acme", {}, 10)
    await limiter.admit_readings("acme", {}, 5)
    await limiter.admit_readings("acme", {}, 5)
    assert clock.slept == [pytest.approx(0.5), pytest.approx(0.5)]


async def test_delay_past_max_delay_is_rejected_without_sleeping_or_charging() -> None:
    limiter, clock, registry = make(default=TENANT_10, policy="delay", max_delay_s=0.9)
    await limiter.admit_readings("acme", {}, 10)
    with pytest.raises(RateLimited) as raised:
        await limiter.admit_readings("acme", {}, 10 + 5)  # oversized: waits for a full bucket
    await limiter.admit_readings("acme", {}, 5)  # only 0.5 s: the refused batch took nothing
    assert raised.value.reason == reasons.RATE_LIMITED_TENANT
    assert raised.value.retry_after_ms == 1000
    assert clock.slept == [pytest.approx(0.5)]
    assert decisions(registry, "tenant", "reject") == 1
    assert decisions(registry, "tenant", "delay") == 1


async def test_concurrent_delayed_requests_are_served_in_arrival_order() -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    slept: list[float] = []
    wake = asyncio.Event()

    async def parked_sleep(seconds: float) -> None:
        slept.append(seconds)
        await wake.wait()

    config = RateLimitConfig(default=TENANT_10, policy="delay")
    limiter = RateLimiter(config, Metrics(registry), clock=clock, sleep=parked_sleep)
    await limiter.admit_readings("acme", {}, 10)
    waiters = [asyncio.create_task(limiter.admit_readings("acme", {}, 5)) for _ in range(3)]
    await asyncio.sleep(0)
    assert slept == [pytest.approx(0.5), pytest.approx(1.0), pytest.approx(1.5)]
    wake.set()
    await asyncio.gather(*waiters)


async def test_a_cancelled_delayed_request_gives_its_tokens_back() -> None:
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:
            await asyncio.Event().wait()  # the first sleeper is cancelled while parked
        clock.now += seconds

    config = RateLimitConfig(default=TENANT_10, policy="delay")
    limiter = RateLimiter(config, Metrics(CollectorRegistry()), clock=clock, sleep=sleep)
    await limiter.admit_readings("acme", {}, 10)
    parked = asyncio.create_task(limiter.admit_readings("acme", {}, 5))
    await asyncio.sleep(0)
    parked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await parked
    await limiter.admit_readings("acme", {}, 5)
    assert slept == [pytest.approx(0.5), pytest.approx(0.5)]
