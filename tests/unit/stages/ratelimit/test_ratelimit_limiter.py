"""RateLimiter under ``reject``: reasons, retry-after, all-or-nothing, isolation, DLQ cap."""

from __future__ import annotations

import pytest
from ratelimit_helpers import (
    BYTES_1K,
    DEVICE_2,
    TENANT_10,
    bucket,
    decisions,
    exhaust_and_ask,
    make,
    total_decisions,
)

from sluice.core import reasons
from sluice.core.config.ratelimit import TenantLimits
from sluice.core.errors import RateLimited


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


@pytest.mark.parametrize(
    ("default", "tenants", "limits_bytes", "limits_readings"),
    [
        (None, {}, False, False),
        (BYTES_1K, {}, True, False),
        (None, {"acme": TENANT_10}, False, True),
        (None, {"acme": DEVICE_2, "beta": BYTES_1K}, True, True),
    ],
)
def test_the_limiter_says_which_kinds_of_limit_any_tenant_has(
    default: TenantLimits | None,
    tenants: dict[str, TenantLimits],
    limits_bytes: bool,
    limits_readings: bool,
) -> None:
    limiter, _, _ = make(default, tenants)

    assert limiter.limits_bytes is limits_bytes
    assert limiter.limits_readings is limits_readings
