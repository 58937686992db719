"""Opens the roll-up store that ``rollup.store`` names."""

from __future__ import annotations

from sluice.core.config.rollup import RollupConfig
from sluice.downstream.rollup.aggregate import HOUR_S, MINUTE_S
from sluice.downstream.rollup.store import RollupStore


def bucket_widths(config: RollupConfig) -> tuple[int, ...]:
    """The bucket widths the roll-up keeps: hours, and minutes when configured."""
    return (HOUR_S, MINUTE_S) if config.minute_rollups else (HOUR_S,)


def open_store(config: RollupConfig) -> RollupStore:
    """The configured store, opened: its file or pool ready and its tables created."""
    store = config.store
    widths = bucket_widths(config)
    if store.backend == "postgres":
        from sluice.downstream.rollup.postgres import PostgresRollupStore

        return PostgresRollupStore(
            store.postgres_dsn,
            widths,
            min_size=store.pool_min_size,
            max_size=store.pool_max_size,
            timeout_s=store.busy_timeout_s,
        ).open()
    from sluice.downstream.rollup.sqlite import SqliteRollupStore

    return SqliteRollupStore(store.sqlite_path, widths, store.busy_timeout_s).open()
