"""Config of the local spool: where batches wait, durably, while Kafka cannot take them."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from sluice.core.config.base import ComponentConfig

DEFAULT_DIR = Path("/var/lib/sluice/spool")
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
DEFAULT_FSYNC_INTERVAL_MS = 1_000
DEFAULT_DRAIN_TIMEOUT_S = 20.0

FsyncMode = Literal["batch", "interval", "never"]


class SpoolConfig(ComponentConfig):
    """The on-disk spool that takes batches Kafka cannot take now, and replays them in order."""

    enabled: bool = True
    """Spool batches while Kafka is unreachable; off, those batches are answered UNAVAILABLE."""
    dir: Path = DEFAULT_DIR
    """Root directory; each worker locks its own ``worker-<n>`` directory below it."""
    max_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_BYTES
    """Bytes one worker's spool may hold; past this, new batches are answered UNAVAILABLE."""
    segment_bytes: Annotated[int, Field(ge=4096)] = DEFAULT_SEGMENT_BYTES
    """Size at which a segment file is closed and a new one begun; space is freed per segment."""
    fsync: FsyncMode = "batch"
    """When appends reach the disk: ``batch`` before each Ack (survives a host crash),
    ``interval`` every ``fsync_interval_ms``, ``never`` (both survive a process crash only)."""
    fsync_interval_ms: Annotated[int, Field(gt=0)] = DEFAULT_FSYNC_INTERVAL_MS
    """With ``fsync: interval``: how often written data is synced."""
    drain_timeout_s: Annotated[float, Field(ge=0)] = DEFAULT_DRAIN_TIMEOUT_S
    """On shutdown with Kafka reachable: how long to keep replaying the spool into Kafka."""

    @model_validator(mode="after")
    def _segment_fits(self) -> "SpoolConfig":
        if self.segment_bytes > self.max_bytes:
            raise ValueError(
                f"segment_bytes ({self.segment_bytes}) must not exceed max_bytes ({self.max_bytes})"
            )
        return self
