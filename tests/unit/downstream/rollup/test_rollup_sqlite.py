"""The SQLite store: WAL mode, reads beside a writer, a locked file, and figures on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sluice.downstream.rollup.sqlite import SqliteRollupStore
from sluice.downstream.rollup.store import StoreUnavailable
from tests.support.rollup import assert_same_figures, random_readings, record, reference, stored


def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteRollupStore(tmp_path / "deep" / "rollup.db").open()
    store.close()

    with sqlite3.connect(tmp_path / "deep" / "rollup.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_figures_survive_closing_and_reopening(tmp_path: Path) -> None:
    readings = random_readings(100, seed=5)
    store = SqliteRollupStore(tmp_path / "rollup.db").open()
    store.apply([record(readings, "s:1:0")])
    store.close()
    store.close()  # idempotent

    reopened = SqliteRollupStore(tmp_path / "rollup.db").open()
    try:
        assert reopened.apply([record(readings, "s:1:0")]).records == 0
        assert_same_figures(stored(reopened, ["acme"]), reference([("acme", readings)]))
    finally:
        reopened.close()


def test_reads_go_on_while_another_connection_writes(tmp_path: Path) -> None:
    store = SqliteRollupStore(tmp_path / "rollup.db").open()
    store.apply([record(random_readings(10, seed=6), "s:1:0")])
    writer = sqlite3.connect(tmp_path / "rollup.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM rollup_hourly")
        assert len(store.devices("acme", "", 10)) == 3  # the uncommitted delete is not seen
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        store.close()


def test_a_locked_file_is_unavailable_and_nothing_is_half_applied(tmp_path: Path) -> None:
    readings = random_readings(30, seed=7)
    store = SqliteRollupStore(tmp_path / "rollup.db", busy_timeout_s=0.05).open()
    blocker = sqlite3.connect(tmp_path / "rollup.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="locked"):
            store.apply([record(readings, "s:1:0")])
        blocker.execute("ROLLBACK")

        assert store.apply([record(readings, "s:1:0")]).records == 1
        assert_same_figures(stored(store, ["acme"]), reference([("acme", readings)]))
    finally:
        blocker.close()
        store.close()


def test_a_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = SqliteRollupStore(tmp_path / "rollup.db").open()
    store.close()

    with pytest.raises(RuntimeError, match="not open"):
        store.apply([record(random_readings(1, seed=8), "s:1:0")])
