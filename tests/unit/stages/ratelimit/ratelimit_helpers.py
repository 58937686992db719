"""Shared by the rate-limiter tests: a controllable clock, a limiter factory, metric reads."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry

from sluice.core.config.ratelimit import BucketConfig, RateLimitConfig, TenantLimits
from sluice.ops.metrics import Metrics
from sluice.stages.ratelimit.limiter import RateLimiter


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
