"""The roll-up store: one small interface, with SQLite and PostgreSQL behind it.

Writing: ``apply(records)`` runs one transaction that marks each record's
``(ce_source, ce_id)`` as processed and adds the aggregates of the records not marked
before. A redelivered or resent record therefore counts once, and a crash between the
store's commit and the Kafka offset commit is harmless.

Reading: the query API's lookups, always within one tenant, paginated by key.

Both backends share the SQL here (written with ``?`` placeholders); each supplies its
connections, its transaction, the processed-records marking and its spelling of two-value
min/max.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

from sluice.downstream.rollup.aggregate import HOUR_S, MINUTE_S, Aggregate, Rollup
from sluice.downstream.rollup.decode import DecodedRecord

TABLES = {HOUR_S: "rollup_hourly", MINUTE_S: "rollup_minutely"}
"""The table of each bucket width."""
PROCESSED_TABLE = "rollup_processed"
_COLUMNS = "readings, total, minimum, maximum, first_ns, last_ns"

Identity = tuple[str, str]
Row = tuple[Any, ...]


class StoreUnavailable(RuntimeError):
    """The database failed the operation (unreachable, locked, deadlocked): try again."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What one ``apply`` did."""

    records: int
    """Records counted for the first time."""
    duplicates: int
    """Records already processed before (or twice in this call), left out."""
    readings: int
    """Readings added to the roll-ups."""
    skipped: int
    """Readings left out because their value was not finite."""


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """A device with roll-ups, and its latest event time."""

    device_id: str
    last_ns: int


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """A metric of a device: how many readings it has in total, and the latest event time."""

    metric: str
    readings: int
    last_ns: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket's aggregate; ``devices`` counts the devices in it (1 for a device's own)."""

    start_s: int
    aggregate: Aggregate
    devices: int = 1
    device_id: str = ""


class RollupStore(ABC):
    """A roll-up store. Every method may raise ``StoreUnavailable``."""

    least: ClassVar[str]
    greatest: ClassVar[str]

    def __init__(self, widths: Sequence[int] = (HOUR_S,)) -> None:
        self.widths = tuple(widths)

    # -- what a backend supplies ------------------------------------------------------------

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """A cursor in a write transaction, committed on a clean exit, else rolled back."""

    @abstractmethod
    def fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """The rows of one read-only query (written by ``sql()``)."""

    @abstractmethod
    def mark_processed(
        self, cursor: Any, identities: Sequence[Identity], now_s: int
    ) -> set[Identity]:
        """Insert the processed markers; return the identities that were not there before."""

    @abstractmethod
    def execute_many(self, cursor: Any, sql: str, rows: Sequence[Row]) -> None:
        """Run ``sql`` (written by ``sql()``) once per row."""

    @abstractmethod
    def close(self) -> None:
        """Release connections. Idempotent."""

    # -- writing ------------------------------------------------------------------------------

    def schema(self) -> list[str]:
        """The DDL that creates the tables if they are missing."""
        statements = [
            f"CREATE TABLE IF NOT EXISTS {PROCESSED_TABLE} ("
            " ce_source TEXT NOT NULL, ce_id TEXT NOT NULL, processed_at BIGINT NOT NULL,"
            " PRIMARY KEY (ce_source, ce_id))",
            f"CREATE INDEX IF NOT EXISTS {PROCESSED_TABLE}_at ON {PROCESSED_TABLE} (processed_at)",
        ]
        for table in TABLES.values():
            statements += [
                f"CREATE TABLE IF NOT EXISTS {table} ("
                " tenant TEXT NOT NULL, device_id TEXT NOT NULL, metric TEXT NOT NULL,"
                " bucket BIGINT NOT NULL, readings BIGINT NOT NULL,"
                " total DOUBLE PRECISION NOT NULL, minimum DOUBLE PRECISION NOT NULL,"
                " maximum DOUBLE PRECISION NOT NULL, first_ns BIGINT NOT NULL,"
                " last_ns BIGINT NOT NULL, PRIMARY KEY (tenant, device_id, metric, bucket))",
                f"CREATE INDEX IF NOT EXISTS {table}_metric ON {table} (tenant, metric, bucket)",
            ]
        return statements

    def apply(self, records: Sequence[DecodedRecord], now_s: int | None = None) -> Applied:
        """Count every record not processed before, in one transaction."""
        now = int(time.time()) if now_s is None else now_s
        # Sorted, so concurrent consumers lock rows in one order and cannot deadlock.
        identities = sorted({record.identity for record in records})
        rollup = Rollup(self.widths)
        counted = 0
        with self.transaction() as cursor:
            new = self.mark_processed(cursor, identities, now)
            for record in records:
                if record.identity in new:
                    new.discard(record.identity)
                    rollup.add_batch(record.tenant, record.batch)
                    counted += 1
            for width in self.widths:
                rows = [(*key, *_values(agg)) for key, agg in rollup.rows(width)]
                if rows:
                    self.execute_many(cursor, self._upsert_sql(TABLES[width]), rows)
        return Applied(counted, len(records) - counted, rollup.readings, rollup.skipped)

    def prune_processed(self, before_s: int) -> None:
        """Forget the processed markers older than ``before_s`` (Unix seconds)."""
        with self.transaction() as cursor:
            cursor.execute(
                self.sql(f"DELETE FROM {PROCESSED_TABLE} WHERE processed_at < ?"), (before_s,)
            )

    def _upsert_sql(self, table: str) -> str:
        least, greatest = self.least, self.greatest
        return self.sql(
            f"INSERT INTO {table} AS t (tenant, device_id, metric, bucket, {_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (tenant, device_id, metric, bucket) DO UPDATE SET"
            " readings = t.readings + excluded.readings,"
            " total = t.total + excluded.total,"
            f" minimum = {least}(t.minimum, excluded.minimum),"
            f" maximum = {greatest}(t.maximum, excluded.maximum),"
            f" first_ns = {least}(t.first_ns, excluded.first_ns),"
            f" last_ns = {greatest}(t.last_ns, excluded.last_ns)"
        )

    def sql(self, text: str) -> str:
        """``text``, written with ``?`` placeholders, in this backend's placeholder style."""
        return text

    # -- reading ------------------------------------------------------------------------------

    def _rows(self, text: str, params: Sequence[Any]) -> list[Row]:
        return self.fetch(self.sql(text), params)

    def devices(self, tenant: str, after: str, limit: int) -> list[DeviceSummary]:
        """The tenant's devices named after ``after``, in name order, ``limit`` at most."""
        rows = self._rows(
            "SELECT device_id, MAX(last_ns) FROM rollup_hourly WHERE tenant = ? AND device_id > ?"
            " GROUP BY device_id ORDER BY device_id LIMIT ?",
            (tenant, after, limit),
        )
        return [DeviceSummary(device, int(last)) for device, last in rows]

    def metrics(self, tenant: str, device_id: str, after: str, limit: int) -> list[MetricSummary]:
        """The device's metrics named after ``after``, in name order, ``limit`` at most."""
        rows = self._rows(
            "SELECT metric, SUM(readings), MAX(last_ns) FROM rollup_hourly"
            " WHERE tenant = ? AND device_id = ? AND metric > ?"
            " GROUP BY metric ORDER BY metric LIMIT ?",
            (tenant, device_id, after, limit),
        )
        return [MetricSummary(metric, int(count), int(last)) for metric, count, last in rows]

    def buckets(
        self,
        tenant: str,
        device_id: str,
        metric: str,
        span: tuple[int, int],
        limit: int,
        width: int = HOUR_S,
    ) -> list[Bucket]:
        """One device's buckets (hours, or minutes) of ``metric`` starting in the span, in order.

        ``span`` is ``[first, end)`` in Unix seconds.
        """
        rows = self._rows(
            f"SELECT bucket, {_COLUMNS} FROM {TABLES[width]}"
            " WHERE tenant = ? AND device_id = ? AND metric = ? AND bucket >= ? AND bucket < ?"
            " ORDER BY bucket LIMIT ?",
            (tenant, device_id, metric, *span, limit),
        )
        return [Bucket(int(row[0]), _aggregate(row[1:])) for row in rows]

    def fleet_buckets(
        self, tenant: str, metric: str, span: tuple[int, int], limit: int
    ) -> list[Bucket]:
        """The hours of ``metric`` across the tenant's devices, in order."""
        rows = self._rows(
            "SELECT bucket, SUM(readings), SUM(total), MIN(minimum), MAX(maximum),"
            " MIN(first_ns), MAX(last_ns), COUNT(*) FROM rollup_hourly"
            " WHERE tenant = ? AND metric = ? AND bucket >= ? AND bucket < ?"
            " GROUP BY bucket ORDER BY bucket LIMIT ?",
            (tenant, metric, *span, limit),
        )
        return [Bucket(int(row[0]), _aggregate(row[1:7]), devices=int(row[7])) for row in rows]

    def top_devices(
        self, tenant: str, metric: str, span: tuple[int, int], top: int
    ) -> Iterator[Bucket]:
        """Per hour in the span, the ``top`` devices with the highest mean, highest first."""
        rows = self._rows(
            f"SELECT bucket, device_id, {_COLUMNS} FROM ("
            f" SELECT bucket, device_id, {_COLUMNS}, ROW_NUMBER() OVER ("
            "  PARTITION BY bucket ORDER BY total / readings DESC, device_id) AS place"
            " FROM rollup_hourly WHERE tenant = ? AND metric = ? AND bucket >= ? AND bucket < ?"
            ") ranked WHERE place <= ? ORDER BY bucket, place",
            (tenant, metric, *span, top),
        )
        for row in rows:
            yield Bucket(int(row[0]), _aggregate(row[2:]), device_id=str(row[1]))


def _values(aggregate: Aggregate) -> Row:
    a = aggregate
    return (a.count, a.total, a.minimum, a.maximum, a.first_ns, a.last_ns)


def _aggregate(row: Sequence[Any]) -> Aggregate:
    count, total, minimum, maximum, first_ns, last_ns = row
    return Aggregate(
        int(count), float(total), float(minimum), float(maximum), int(first_ns), int(last_ns)
    )
