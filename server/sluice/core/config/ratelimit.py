"""Config of the token-bucket rate limits."""

from typing import Annotated, Literal

from pydantic import Field

from sluice.core.config.base import ComponentConfig

DEFAULT_MAX_DELAY_S = 5.0
DEFAULT_SWEEP_INTERVAL_S = 10.0


class BucketConfig(ComponentConfig):
    """A token bucket: ``rate`` tokens per second, holding at most ``burst``."""

    rate: Annotated[float, Field(gt=0)]
    """Tokens added per second."""
    burst: Annotated[float, Field(gt=0)]
    """Most tokens the bucket holds."""


class TenantLimits(ComponentConfig):
    """One tenant's buckets; a missing bucket means no limit of that kind."""

    readings: BucketConfig | None = None
    """Readings per second across the tenant."""
    device_readings: BucketConfig | None = None
    """Readings per second for each (tenant, device)."""
    bytes: BucketConfig | None = None
    """Bytes per second across the tenant, charged before parsing."""


class RateLimitConfig(ComponentConfig):
    """Rate limits: defaults for every tenant, per-tenant overrides, and the empty-bucket policy."""

    policy: Literal["delay", "reject"] = "reject"
    """``delay`` stops reading until tokens refill; ``reject`` answers RATE_LIMITED."""
    max_delay_s: Annotated[float, Field(gt=0)] = DEFAULT_MAX_DELAY_S
    """Under ``delay``, a wait longer than this is answered RATE_LIMITED instead."""
    default: TenantLimits = TenantLimits()
    """Buckets for tenants without an entry in ``tenants``."""
    tenants: dict[str, TenantLimits] = Field(default_factory=dict)
    """Per-tenant overrides, keyed by tenant name."""
    dlq: BucketConfig = BucketConfig(rate=100.0, burst=1000.0)
    """Dead-letter records per second per tenant; past it, rejected readings are counted only."""
    sweep_interval_s: Annotated[float, Field(gt=0)] = DEFAULT_SWEEP_INTERVAL_S
    """How often buckets that have refilled (idle devices and tenants) are dropped from memory."""
