"""The embedded roll-up store: one SQLite file in WAL mode.

One writer connection, serialised by a lock, writes with ``BEGIN IMMEDIATE``; every read
opens its own short-lived connection, so the query API reads while the roll-up writes.
``synchronous`` stays FULL: a transaction the roll-up has committed (and whose offsets it
has then committed to Kafka) survives a host crash.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sluice.downstream.rollup.aggregate import HOUR_S
from sluice.downstream.rollup.store import (
    PROCESSED_TABLE,
    Identity,
    RollupStore,
    Row,
    StoreUnavailable,
)


class SqliteRollupStore(RollupStore):
    """Roll-ups in the SQLite file at ``path`` (created, with its tables, by ``open()``)."""

    least = "min"
    greatest = "max"

    def __init__(
        self, path: str | Path, widths: Sequence[int] = (HOUR_S,), busy_timeout_s: float = 10.0
    ) -> None:
        super().__init__(widths)
        self.path = Path(path)
        self._timeout = busy_timeout_s
        self._lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None

    def open(self) -> SqliteRollupStore:
        """Create the file and its tables if missing, and switch it to WAL mode."""
        with self._lock:
            if self._writer is None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._writer = self._create()
                except (OSError, sqlite3.OperationalError) as exc:
                    raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc
        return self

    def _create(self) -> sqlite3.Connection:
        writer = self._connect()
        try:
            writer.execute("PRAGMA journal_mode=WAL")
            for statement in self.schema():
                writer.execute(statement)
        except sqlite3.Error:
            writer.close()
            raise
        return writer

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are begun and ended explicitly below.
        connection = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """A cursor in a ``BEGIN IMMEDIATE`` transaction on the writer connection."""
        with self._lock:
            writer = self._writer
            if writer is None:
                raise RuntimeError("SqliteRollupStore is not open (or already closed)")
            try:
                cursor = writer.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                except BaseException:
                    writer.execute("ROLLBACK")
                    raise
                writer.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if writer.in_transaction:
                    writer.execute("ROLLBACK")
                raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc

    def fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """The rows of one query, on a connection of its own."""
        try:
            with closing(self._connect()) as connection:
                connection.execute("PRAGMA query_only=1")
                return connection.execute(sql, tuple(params)).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc

    def mark_processed(
        self, cursor: Any, identities: Sequence[Identity], now_s: int
    ) -> set[Identity]:
        """Insert each marker; those that inserted a row were new."""
        new: set[Identity] = set()
        insert = (
            f"INSERT INTO {PROCESSED_TABLE} (ce_source, ce_id, processed_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING"
        )
        for source, event_id in identities:
            cursor.execute(insert, (source, event_id, now_s))
            if cursor.rowcount == 1:
                new.add((source, event_id))
        return new

    def execute_many(self, cursor: Any, sql: str, rows: Sequence[Row]) -> None:
        """``executemany`` on the transaction's cursor."""
        cursor.executemany(sql, rows)

    def close(self) -> None:
        """Close the writer connection. Idempotent."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
