"""Per-tenant and per-device token buckets, and what to do when one is empty."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from sluice.core import reasons
from sluice.core.config.ratelimit import BucketConfig, RateLimitConfig, TenantLimits
from sluice.core.errors import RateLimited
from sluice.ops.metrics import Metrics
from sluice.stages.ratelimit.bucket import TokenBucket

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]

SCOPES = ("tenant", "device", "bytes", "dlq")
ACTIONS = ("reject", "delay")

_Charges = list[tuple[TokenBucket, float]]


def _bucket(config: BucketConfig | None, now: float) -> TokenBucket | None:
    return None if config is None else TokenBucket(config.rate, config.burst, now)


@dataclass(slots=True)
class _TenantBuckets:
    """One tenant's buckets; ``devices`` is kept least recently used first, for the sweep."""

    limits: TenantLimits
    readings: TokenBucket | None
    bytes: TokenBucket | None
    dlq: TokenBucket
    devices: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)

    def is_idle(self, now: float) -> bool:
        """True when nothing distinguishes these buckets from freshly created ones."""
        return (
            not self.devices
            and self.dlq.is_full(now)
            and (self.readings is None or self.readings.is_full(now))
            and (self.bytes is None or self.bytes.is_full(now))
        )


@dataclass(slots=True, frozen=True)
class _Binding:
    """The bucket that made a request wait longest: what a refusal names."""

    scope: str
    reason: str
    subject: str
    unit: str
    config: BucketConfig


class RateLimiter:
    """Token buckets per tenant (readings, bytes, dead letters) and per (tenant, device).

    Each tenant's buckets come from ``config.tenants[tenant]``, else ``config.default``; a
    missing bucket means no limit of that kind. When a request does not fit, ``reject``
    raises ``RateLimited``; ``delay`` reserves the tokens and sleeps until they are due
    (a wait past ``max_delay_s`` is rejected instead). Reserving rather than re-checking after
    the sleep serves concurrent waiters first come, first served.

    Buckets that have refilled are indistinguishable from new ones, so every
    ``sweep_interval_s`` of clock they are dropped; a sweep costs one check per tenant plus
    one per bucket dropped.
    """

    def __init__(
        self,
        config: RateLimitConfig,
        metrics: Metrics,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._tenants: dict[str, _TenantBuckets] = {}
        self._next_sweep = clock() + config.sweep_interval_s
        every = [config.default, *config.tenants.values()]
        self._limits_bytes = any(limits.bytes is not None for limits in every)
        self._limits_readings = any(
            limits.readings is not None or limits.device_readings is not None for limits in every
        )
        # Tallied: on the rich workload most faulty batches find the dead-letter budget
        # spent, so a decision can be counted on nearly every batch.
        self._decisions = {
            (scope, action): metrics.tallies.count(
                metrics.rate_limited.labels(scope=scope, action=action)
            )
            for scope in SCOPES
            for action in ACTIONS
        }

    @property
    def limits_bytes(self) -> bool:
        """True when some tenant has a byte bucket; without one, ``admit_bytes`` is a no-op."""
        return self._limits_bytes

    @property
    def limits_readings(self) -> bool:
        """True when some tenant has a readings or per-device bucket; without one,
        ``admit_readings`` is a no-op."""
        return self._limits_readings

    @property
    def tenant_count(self) -> int:
        """Tenants whose buckets are held in memory."""
        return len(self._tenants)

    @property
    def device_bucket_count(self) -> int:
        """(tenant, device) buckets held in memory."""
        return sum(len(state.devices) for state in self._tenants.values())

    def limits_for(self, tenant: str) -> TenantLimits:
        """The bucket settings that apply to ``tenant``."""
        return self._config.tenants.get(tenant, self._config.default)

    def has_device_buckets(self, tenant: str) -> bool:
        """True when ``tenant`` has per-device limits, so callers need per-device counts."""
        return self.limits_for(tenant).device_readings is not None

    async def admit_bytes(self, tenant: str, nbytes: int) -> None:
        """Charge ``nbytes`` of raw, unparsed input to the tenant's byte bucket."""
        now = self._now()
        state = self._state(tenant, now)
        bucket = state.bytes
        if bucket is None:
            return
        wait = bucket.wait_for(nbytes, now)
        if wait == 0.0:
            bucket.take(nbytes, now)
            return
        limits = state.limits.bytes
        assert limits is not None
        binding = _Binding("bytes", reasons.RATE_LIMITED_BYTES, f"tenant {tenant!r}", "B", limits)
        await self._hold_back([(bucket, nbytes)], wait, binding, now)

    async def admit_readings(
        self, tenant: str, device_counts: Mapping[str, int], total: int
    ) -> None:
        """Charge ``total`` readings to the tenant and ``device_counts`` to each device.

        All or nothing: if any bucket refuses, no bucket is charged.
        """
        now = self._now()
        state = self._state(tenant, now)
        limits = state.limits
        charges: _Charges = []
        wait = 0.0
        binding: _Binding | None = None
        tenant_bucket = state.readings
        if tenant_bucket is not None and total:
            charges.append((tenant_bucket, total))
            wait = tenant_bucket.wait_for(total, now)
            if wait:
                assert limits.readings is not None
                binding = _Binding(
                    "tenant",
                    reasons.RATE_LIMITED_TENANT,
                    f"tenant {tenant!r}",
                    "readings",
                    limits.readings,
                )
        device_limits = limits.device_readings
        if device_limits is not None and device_counts:
            devices = state.devices
            rate, burst = device_limits.rate, device_limits.burst
            for device, count in device_counts.items():
                bucket = devices.get(device)
                if bucket is None:
                    bucket = devices[device] = TokenBucket(rate, burst, now)
                else:
                    devices.move_to_end(device)
                charges.append((bucket, count))
                device_wait = bucket.wait_for(count, now)
                if device_wait > wait:
                    wait = device_wait
                    binding = _Binding(
                        "device",
                        reasons.RATE_LIMITED_DEVICE,
                        f"device {device!r} of tenant {tenant!r}",
                        "readings",
                        device_limits,
                    )
        if binding is None:
            for charged, amount in charges:
                charged.take(amount, now)
            return
        await self._hold_back(charges, wait, binding, now)

    def allow_dlq(self, tenant: str) -> bool:
        """Take one dead-letter record's token; False (and counted) when the bucket is empty."""
        now = self._now()
        bucket = self._state(tenant, now).dlq
        if bucket.wait_for(1, now):
            self._decisions["dlq", "reject"].add()
            return False
        bucket.take(1, now)
        return True

    async def _hold_back(
        self, charges: _Charges, wait: float, binding: _Binding, now: float
    ) -> None:
        """Apply the policy to a request that must wait ``wait`` seconds for ``binding``."""
        if self._config.policy == "delay" and wait <= self._config.max_delay_s:
            self._decisions[binding.scope, "delay"].add()
            for bucket, amount in charges:
                bucket.take(amount, now)
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                later = self._clock()
                for bucket, amount in charges:
                    bucket.give_back(amount, later)
                raise
            return
        self._decisions[binding.scope, "reject"].add()
        retry_after_ms = max(1, math.ceil(wait * 1000))
        config = binding.config
        raise RateLimited(
            binding.reason,
            f"{binding.subject} is over its limit of {config.rate:g} {binding.unit}/s "
            f"(burst {config.burst:g}); retry after {retry_after_ms} ms",
            retry_after_ms=retry_after_ms,
        )

    def _now(self) -> float:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        return now

    def _state(self, tenant: str, now: float) -> _TenantBuckets:
        state = self._tenants.get(tenant)
        if state is None:
            limits = self.limits_for(tenant)
            dlq = TokenBucket(self._config.dlq.rate, self._config.dlq.burst, now)
            state = _TenantBuckets(
                limits, _bucket(limits.readings, now), _bucket(limits.bytes, now), dlq
            )
            self._tenants[tenant] = state
        return state

    def _sweep(self, now: float) -> None:
        """Drop refilled device buckets (oldest use first) and then idle tenants.

        Device buckets of a tenant share one rate, so the least recently used are the first to
        refill; the sweep stops at the first one still refilling (a bucket deep in debt may
        hold back the rest until its debt is paid, which keeps the count bounded all the same).
        """
        self._next_sweep = now + self._config.sweep_interval_s
        for tenant in list(self._tenants):
            state = self._tenants[tenant]
            devices = state.devices
            while devices:
                oldest = next(iter(devices.values()))
                if not oldest.is_full(now):
                    break
                devices.popitem(last=False)
            if state.is_idle(now):
                del self._tenants[tenant]
