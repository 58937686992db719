"""RateLimiter: buckets per tenant, device and byte stream; both policies; DLQ cap; sweeping."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry
from sluice import reasons
from sluice.errors import RateLimited
from sluice.ops.metrics import Metrics
from sluice.ratelimit.config import BucketConfig, RateLimitConfig, TenantLimits
from sluice.ratelimit.limiter import RateLimiter


class FakeClock:
    """A monotonic clock the test moves; its ``sleep`` advances it and records the wait."""

    def __init__(self) -> None:
        self.now = 500.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def bucket(rate: float, burst: float) -> BucketConfig:
    return BucketConfig(rate=rate, burst=burst)


def make(
    default: TenantLimits | None = None,
    tenants: Mapping[str, TenantLimits] | None = None,
    **config: object,
) -> tuple[RateLimiter, FakeClock, CollectorRegistry]:
    registry = CollectorRegistry()
    clock = FakeClock()
    settings = RateLimitConfig.model_validate(
        {"default": default or TenantLimits(), "tenants": dict(tenants or {}), **config}
    )
    limiter = RateLimiter(settings, Metrics(registry), clock=clock, sleep=clock.sleep)
    return limiter, clock, registry


def decisions(registry: CollectorRegistry, scope: str, action: str) -> float:
    value = registry.get_sample_value(
        "sluice_rate_limited_total", {"scope": scope, "action": action}
    )
    return value or 0.0


def total_decisions(registry: CollectorRegistry) -> float:
    return sum(
        decisions(registry, scope, action)
        for scope in ("tenant", "device", "bytes", "dlq")
        for action in ("reject", "delay")
    )


TENANT_10 = TenantLimits(readings=bucket(rate=10, burst=10))
DEVICE_2 = TenantLimits(device_readings=bucket(rate=2, burst=4))
BYTES_1K = TenantLimits(bytes=bucket(rate=1000, burst=1000))


# --- reject ------------------------------------------------------------------------------


async def exhaust_and_ask(limiter: RateLimiter, scope: str, full: int, more: int) -> None:
    if scope == "bytes":
        await limiter.admit_bytes("acme", full)
        await limiter.admit_bytes("acme", more)
    elif scope == "tenant":
        await limiter.admit_readings("acme", {}, full)
        await limiter.admit_readings("acme", {}, more)
    else:
        await limiter.admit_readings("acme", {"dev-7": full}, full)
        await limiter.admit_readings("acme", {"dev-7": more}, more)


@pytest.mark.parametrize(
    ("scope", "limits", "full", "more", "reason", "retry_after_ms", "named"),
    [
        ("tenant", TENANT_10, 10, 5, reasons.RATE_LIMITED_TENANT, 500, ["'acme'", "10 readings/s"]),
        ("tenant", TENANT_10, 10, 1, reasons.RATE_LIMITED_TENANT, 100, ["burst 10"]),
        ("device", DEVICE_2, 4, 1, reasons.RATE_LIMITED_DEVICE, 500, ["'dev-7'", "'acme'"]),
        ("device", DEVICE_2, 4, 3, reasons.RATE_LIMITED_DEVICE, 1500, ["2 readings/s"]),
        ("bytes", BYTES_1K, 1000, 250, reasons.RATE_LIMITED_BYTES, 250, ["'acme'", "1000 B/s"]),
        ("bytes", BYTES_1K, 1000, 1, reasons.RATE_LIMITED_BYTES, 1, ["burst 1000"]),
    ],
)
async def test_reject_raises_with_reason_retry_after_and_a_message_naming_the_limit(
    scope: str,
    limits: TenantLimits,
    full: int,
    more: int,
    reason: str,
    retry_after_ms: int,
    named: list[str],
) -> None:
    limiter, _, registry = make(default=limits)
    with pytest.raises(RateLimited) as raised:
        await exhaust_and_ask(limiter, scope, full, more)
    assert raised.value.reason == reason
    assert raised.value.retry_after_ms == retry_after_ms
    for text in named:
        assert text in raised.value.message
    assert decisions(registry, scope, "reject") == 1
    assert total_decisions(registry) == 1


async def test_retry_after_is_rounded_up_to_a_whole_millisecond() -> None:
    limiter, clock, _ = make(default=TenantLimits(readings=bucket(rate=3, burst=3)))
    await limiter.admit_readings("acme", {}, 3)
    clock.now += 0.2
    with pytest.raises(RateLimited) as raised:
        await limiter.admit_readings("acme", {}, 1)  # 0.4 tokens short: 133.33 ms
    assert raised.value.retry_after_ms == 134


async def test_a_refused_request_succeeds_after_retry_after() -> None:
    limiter, clock, _ = make(default=TENANT_10)
    await limiter.admit_readings("acme", {}, 10)
    with pytest.raises(RateLimited) as raised:
        await limiter.admit_readings("acme", {}, 7)
    clock.now += raised.value.retry_after_ms / 1000
    await limiter.admit_readings("acme", {}, 7)


@pytest.mark.parametrize(
    ("tenant_rate", "device_rate", "scope", "reason", "retry_after_ms"),
    [
        (10, 1, "device", reasons.RATE_LIMITED_DEVICE, 2000),  # tenant 0.2 s, device 2 s
        (1, 4, "tenant", reasons.RATE_LIMITED_TENANT, 2000),  # tenant 2 s, device 0.5 s
    ],
)
async def test_refusal_names_the_bucket_that_needs_longest(
    tenant_rate: float, device_rate: float, scope: str, reason: str, retry_after_ms: int
) -> None:
    limits = TenantLimits(
        readings=bucket(rate=tenant_rate, burst=10), device_readings=bucket(device_rate, 5)
    )
    limiter, _, registry = make(default=limits)
    await limiter.admit_readings("acme", {"a": 5, "b": 5}, 10)
    with pytest.raises(RateLimited) as raised:
        await limiter.admit_readings("acme", {"b": 1, "a": 2}, 2)
    assert raised.value.reason == reason
    assert raised.value.retry_after_ms == retry_after_ms
    assert decisions(registry, scope, "reject") == 1
    assert total_decisions(registry) == 1


async def test_no_limits_configured_admits_everything_and_counts_nothing() -> None:
    limiter, _, registry = make()
    for _ in range(3):
        await limiter.admit_bytes("acme", 10**9)
        await limiter.admit_readings("acme", {"d": 10**6}, 10**6)
    assert total_decisions(registry) == 0


async def test_oversized_batch_is_admitted_into_debt_and_slows_what_follows() -> None:
    limiter, clock, _ = make(default=TENANT_10)
    await limiter.admit_readings("acme", {}, 35)
    clock.now += 2.0
    with pytest.raises(RateLimited) as raised:
        await limiter.admit_readings("acme", {}, 1)
    assert raised.value.retry_after_ms == 600  # 25 in debt, 20 refilled: 6 tokens short


# --- all or nothing ------------------------------------------------------------------------


async def test_device_refusal_charges_no_bucket() -> None:
    limits = TenantLimits(readings=bucket(rate=0.001, burst=10), device_readings=bucket(0.001, 4))
    limiter, _, _ = make(default=limits)
    await limiter.admit_readings("acme", {"a": 4}, 4)
    with pytest.raises(RateLimited):
        await limiter.admit_readings("acme", {"b": 2, "a": 1}, 3)
    # neither the tenant nor device b were charged for the refused batch
    await limiter.admit_readings("acme", {"b": 4, "c": 2}, 6)


async def test_tenant_refusal_charges_no_device_bucket() -> None:
    limits = TenantLimits(readings=bucket(rate=1, burst=5), device_readings=bucket(0.001, 10))
    limiter, clock, _ = make(default=limits)
    await limiter.admit_readings("acme", {"a": 5}, 5)
    with pytest.raises(RateLimited) as raised:
        await limiter.admit_readings("acme", {"a": 5}, 5)
    assert raised.value.reason == reasons.RATE_LIMITED_TENANT
    clock.now += 5.0
    await limiter.admit_readings("acme", {"a": 5}, 5)


# --- isolation and overrides ---------------------------------------------------------------


async def test_an_exhausted_device_does_not_limit_another() -> None:
    limiter, _, _ = make(default=DEVICE_2)
    await limiter.admit_readings("acme", {"a": 4}, 4)
    with pytest.raises(RateLimited):
        await limiter.admit_readings("acme", {"a": 1}, 1)
    await limiter.admit_readings("acme", {"b": 4}, 4)
    await limiter.admit_readings("other", {"a": 4}, 4)


@pytest.mark.parametrize("scope", ["tenant", "bytes"])
async def test_an_exhausted_tenant_does_not_limit_another(scope: str) -> None:
    limits = TenantLimits(readings=bucket(10, 10), bytes=bucket(1000, 1000))
    limiter, _, _ = make(default=limits)
    with pytest.raises(RateLimited):
        await exhaust_and_ask(limiter, scope, 1000 if scope == "bytes" else 10, 1)
    if scope == "bytes":
        await limiter.admit_bytes("globex", 1000)
    else:
        await limiter.admit_readings("globex", {}, 10)


async def test_per_tenant_overrides_replace_the_default() -> None:
    generous = TenantLimits(readings=bucket(rate=1000, burst=1000))
    limiter, _, _ = make(default=TENANT_10, tenants={"big": generous})
    await limiter.admit_readings("big", {}, 1000)
    await limiter.admit_readings("small", {}, 10)
    with pytest.raises(RateLimited):
        await limiter.admit_readings("small", {}, 1)
    assert limiter.limits_for("big") == generous
    assert limiter.limits_for("small") == TENANT_10


async def test_an_override_without_a_bucket_means_unlimited() -> None:
    limiter, _, _ = make(default=TENANT_10, tenants={"free": TenantLimits()})
    await limiter.admit_readings("free", {}, 10**6)
    await limiter.admit_readings("free", {}, 10**6)


@pytest.mark.parametrize(
    ("tenant", "expected"), [("acme", True), ("free", False), ("unknown", True)]
)
def test_has_device_buckets_follows_the_tenant_limits(tenant: str, expected: bool) -> None:
    limiter, _, _ = make(default=DEVICE_2, tenants={"acme": DEVICE_2, "free": TENANT_10})
    assert limiter.has_device_buckets(tenant) is expected


# --- delay -----------------------------------------------------------------------------------


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


# --- dead letters --------------------------------------------------------------------------


async def test_dlq_bucket_caps_dead_letter_records_per_tenant() -> None:
    limiter, clock, registry = make(dlq={"rate": 1.0, "burst": 3.0})
    assert [limiter.allow_dlq("acme") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow_dlq("globex")
    assert decisions(registry, "dlq", "reject") == 1
    clock.now += 1.0
    assert limiter.allow_dlq("acme")
    assert not limiter.allow_dlq("acme")
    assert decisions(registry, "dlq", "reject") == 2


# --- memory --------------------------------------------------------------------------------


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
