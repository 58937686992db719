"""Config of the roll-up consumer (``rollup:``) and of the store it writes (``rollup.store:``).

The query API reads the same store, so ``sluice query`` uses ``rollup.store`` too. The
roll-up reads ``kafka.bootstrap_servers`` and ``kafka.topic``; ``kafka.client`` (TLS, SASL)
applies to its consumer, and ``rollup.client`` adds or overrides consumer properties.
"""

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from sluice.core.config.base import ComponentConfig
from sluice.core.config.librdkafka import ClientValue, check_each

DEFAULT_GROUP_ID = "sluice-rollup"
DEFAULT_SQLITE_PATH = "sluice-rollup.db"
DEFAULT_OPS_LISTEN = "127.0.0.1:9465"
DEFAULT_BATCH_MAX_RECORDS = 500
DEFAULT_POLL_TIMEOUT_S = 0.5
DEFAULT_PROCESSED_RETENTION_H = 7 * 24
DEFAULT_RETRY_BACKOFF_S = 1.0
LOCKED_CONSUMER_PROPERTIES = frozenset(
    {"enable.auto.commit", "enable.auto.offset.store", "group.id"}
)


class StoreConfig(ComponentConfig):
    """Where the roll-ups live: an embedded SQLite file, or PostgreSQL for scale."""

    backend: Literal["sqlite", "postgres"] = "sqlite"
    """``sqlite``: one local file, the embedded default; ``postgres``: shared by many processes."""
    sqlite_path: str = DEFAULT_SQLITE_PATH
    """The SQLite database file (WAL mode), created if missing."""
    postgres_dsn: str = ""
    """libpq connection string or URI, e.g. ``postgresql://sluice@db:5432/sluice``."""
    pool_min_size: Annotated[int, Field(ge=1)] = 1
    """PostgreSQL connections kept open."""
    pool_max_size: Annotated[int, Field(ge=1)] = 8
    """PostgreSQL connections at most (the query API uses one per request in flight)."""
    busy_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """How long a statement waits for a lock (SQLite) or a pooled connection (PostgreSQL)."""

    @model_validator(mode="after")
    def _backend_settings(self) -> "StoreConfig":
        if self.backend == "postgres" and not self.postgres_dsn:
            raise ValueError("postgres_dsn is required with backend: postgres")
        if self.pool_max_size < self.pool_min_size:
            raise ValueError("pool_max_size must be at least pool_min_size")
        return self


class RollupConfig(ComponentConfig):
    """The roll-up consumer: per tenant, device, metric and hour (and optionally minute)."""

    group_id: str = DEFAULT_GROUP_ID
    """Kafka consumer group; run more ``sluice rollup`` processes to share the partitions."""
    minute_rollups: bool = False
    """Also keep per-minute roll-ups (table ``rollup_minutely``)."""
    batch_max_records: Annotated[int, Field(ge=1, le=100_000)] = DEFAULT_BATCH_MAX_RECORDS
    """Kafka records applied in one store transaction at most."""
    poll_timeout_s: Annotated[float, Field(gt=0, le=10)] = DEFAULT_POLL_TIMEOUT_S
    """Longest wait for records before the loop checks for a stop request."""
    retry_backoff_s: Annotated[float, Field(gt=0)] = DEFAULT_RETRY_BACKOFF_S
    """Wait before retrying a store transaction that failed."""
    processed_retention_h: Annotated[float, Field(gt=0)] = DEFAULT_PROCESSED_RETENTION_H
    """How long a record's (ce_source, ce_id) is remembered; keep it above topic retention."""
    ops_listen: str = DEFAULT_OPS_LISTEN
    """host:port of ``sluice rollup``'s /metrics, /healthz and /readyz (port 0: any free port)."""
    client: dict[str, ClientValue] = Field(default_factory=dict)
    """librdkafka consumer properties added to ``kafka.client``; commits stay manual."""
    store: StoreConfig = StoreConfig()

    @field_validator("client")
    @classmethod
    def _refuse_locked(cls, value: dict[str, ClientValue]) -> dict[str, ClientValue]:
        locked = sorted(LOCKED_CONSUMER_PROPERTIES.intersection(value))
        if locked:
            raise ValueError(
                f"{', '.join(locked)} cannot be set here: offsets are committed only after "
                "the store's transaction, and the group is rollup.group_id"
            )
        return value

    @field_validator("client")
    @classmethod
    def _librdkafka_takes_each(cls, value: dict[str, ClientValue]) -> dict[str, ClientValue]:
        return check_each(value, "consumer")
