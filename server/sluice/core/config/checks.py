"""Config of the per-reading checks and transforms."""

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from sluice.core.config.base import ComponentConfig

DEFAULT_DEVICE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:/@-]*"
DEFAULT_METRIC_PATTERN = r"[a-z][a-z0-9_.]*"
DEFAULT_MAX_AGE_S = 7 * 24 * 3600.0
DEFAULT_MAX_SKEW_S = 300.0


class ValueRange(ComponentConfig):
    """Inclusive bounds for one metric's value, in the metric's canonical unit."""

    min: float = float("-inf")
    """Smallest value accepted."""
    max: float = float("inf")
    """Largest value accepted."""

    @model_validator(mode="after")
    def _ordered(self) -> "ValueRange":
        if self.min > self.max:
            raise ValueError("min must be less than or equal to max")
        return self


class ChecksConfig(ComponentConfig):
    """What a reading and a batch must satisfy to be accepted."""

    device_id_pattern: str = DEFAULT_DEVICE_ID_PATTERN
    """Regular expression the whole device_id must match."""
    device_id_max_length: Annotated[int, Field(gt=0)] = 128
    """Longest device_id accepted, in characters."""
    metric_pattern: str = DEFAULT_METRIC_PATTERN
    """Regular expression the whole metric name must match."""
    metric_max_length: Annotated[int, Field(gt=0)] = 128
    """Longest metric name accepted, in characters."""
    max_age_s: Annotated[float, Field(gt=0)] = DEFAULT_MAX_AGE_S
    """Readings older than this (event time against receipt time) are TIME_TOO_OLD."""
    max_skew_s: Annotated[float, Field(ge=0)] = DEFAULT_MAX_SKEW_S
    """Readings further ahead than this are TIME_IN_FUTURE."""
    max_tags: Annotated[int, Field(ge=0)] = 32
    """Most tags a reading may carry; more are TAGS_TOO_MANY."""
    tag_key_max_length: Annotated[int, Field(gt=0)] = 64
    """Longest tag key accepted; an empty or longer key is TAG_INVALID."""
    tag_value_max_length: Annotated[int, Field(gt=0)] = 256
    """Longest tag value accepted; a longer one is TAG_INVALID."""
    ranges: dict[str, ValueRange] = Field(default_factory=dict)
    """Per-metric value bounds, in canonical units, e.g. {temperature: {min: -90, max: 70}}."""
    max_readings_per_batch: Annotated[int, Field(gt=0)] = 10_000
    """More readings than this reject the whole batch with BATCH_TOO_LARGE."""
    max_batch_bytes: Annotated[int, Field(gt=0)] = 4 * 1024 * 1024
    """A serialized batch larger than this is rejected whole with BATCH_TOO_LARGE."""
    timestamp_units: Literal["auto", "ns"] = "auto"
    """``auto`` recognises seconds, milliseconds and microseconds and scales them to ns."""

    @field_validator("device_id_pattern", "metric_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        return pattern


class TransformsConfig(ComponentConfig):
    """How accepted readings are normalised and enriched."""

    convert_units: bool = True
    """Convert values to each metric's canonical unit and rewrite ``unit``."""
    canonical_units: dict[str, str] = Field(default_factory=dict)
    """Extra or overriding metric -> canonical unit symbol entries for the unit table."""
    geohash_precision: Annotated[int, Field(ge=1, le=12)] = 7
    """Characters of geohash computed from a reading's location (7 is about 150 m)."""
    device_registry: Path | None = None
    """YAML file mapping device_id to site and location."""
