"""The roll-up store on PostgreSQL: psycopg 3, a connection pool, ``INSERT … ON CONFLICT``.

Several roll-up processes (one per share of the partitions) and query API processes use the
same database. Each write transaction marks its records with one multi-row insert that
returns the rows it inserted, then upserts its aggregates in key order, so concurrent
writers lock shared rows in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from sluice.downstream.rollup.aggregate import HOUR_S
from sluice.downstream.rollup.store import (
    PROCESSED_TABLE,
    Identity,
    RollupStore,
    Row,
    StoreUnavailable,
)

SCHEMA_LOCK_ID = 0x5100_1CE0
"""pg_advisory_xact_lock key that serialises schema creation between processes."""


class PostgresRollupStore(RollupStore):
    """Roll-ups in the PostgreSQL database at ``dsn`` (tables created by ``open()``)."""

    least = "LEAST"
    greatest = "GREATEST"

    def __init__(
        self,
        dsn: str,
        widths: Sequence[int] = (HOUR_S,),
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(widths)
        self._pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            open=False,
            check=ConnectionPool.check_connection,
            name="sluice-rollup",
        )
        self._timeout = timeout_s

    def open(self) -> PostgresRollupStore:
        """Open the pool (waiting for its first connections) and create missing tables."""
        try:
            self._pool.open(wait=True, timeout=self._timeout)
            with self.transaction() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
                for statement in self.schema():
                    cursor.execute(statement)
        except psycopg.OperationalError as exc:
            self._pool.close()
            raise StoreUnavailable(f"PostgreSQL: {exc}") from exc
        except BaseException:
            self._pool.close()
            raise
        return self

    def sql(self, text: str) -> str:
        """``text`` with psycopg's ``%s`` placeholders."""
        return text.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor in a transaction on a pooled connection."""
        try:
            with (
                self._pool.connection() as connection,
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                yield cursor
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL: {exc}") from exc

    def fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """The rows of one query, on a pooled connection."""
        try:
            with self._pool.connection() as connection:
                return connection.execute(sql, tuple(params)).fetchall()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL: {exc}") from exc

    def mark_processed(
        self, cursor: Any, identities: Sequence[Identity], now_s: int
    ) -> set[Identity]:
        """One insert of every marker, returning the ones that were not there yet."""
        if not identities:
            return set()
        sources = [source for source, _ in identities]
        event_ids = [event_id for _, event_id in identities]
        cursor.execute(
            f"INSERT INTO {PROCESSED_TABLE} (ce_source, ce_id, processed_at)"
            " SELECT source, event_id, %s FROM unnest(%s::text[], %s::text[])"
            " AS marked(source, event_id)"
            " ON CONFLICT DO NOTHING RETURNING ce_source, ce_id",
            (now_s, sources, event_ids),
        )
        return {(str(source), str(event_id)) for source, event_id in cursor.fetchall()}

    def execute_many(self, cursor: Any, sql: str, rows: Sequence[Row]) -> None:
        """psycopg's pipelined ``executemany``."""
        cursor.executemany(sql, rows)

    def close(self) -> None:
        """Close the pool and its connections. Idempotent."""
        self._pool.close()
