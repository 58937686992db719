"""Records and spool configs for the spool tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from sluice.core.batch import Record
from sluice.core.config.spool import SpoolConfig
from sluice.ops.metrics import Metrics


def record(n: int, key: bytes = b"gw-1", readings: int = 1, size: int = 40) -> Record:
    """A readings record whose value names ``n`` (padded to about ``size`` bytes)."""
    value = f"value-{n}:".encode().ljust(size, b".")
    headers = [("ce_id", f"s:{n}:0".encode()), ("ce_specversion", b"1.0")]
    return Record("readings", key, value, headers, readings)


def values(records: list[Record]) -> list[bytes]:
    """The values of ``records``, in order."""
    return [r.value for r in records]


def spool_config(root: Path, **overrides: Any) -> SpoolConfig:
    """A spool under ``root``; small segments so that tests roll over."""
    settings: dict[str, Any] = {"dir": root, "segment_bytes": 4096, "max_bytes": 1 << 20}
    return SpoolConfig(**{**settings, **overrides})


def fresh_metrics() -> Metrics:
    """Metrics in a registry of their own."""
    return Metrics(CollectorRegistry())


def sample(metrics: Metrics, name: str) -> float | None:
    """A sample of ``metrics``'s registry."""
    return metrics.registry.get_sample_value(name)
