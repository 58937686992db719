"""The roll-up store contract, on SQLite and on a real PostgreSQL server alike.

Each record counts once however often it is applied; late readings update their own hour;
reads stay within one tenant and page by key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.downstream.rollup.aggregate import HOUR_S, MINUTE_S
from sluice.downstream.rollup.postgres import PostgresRollupStore
from sluice.downstream.rollup.sqlite import SqliteRollupStore
from sluice.downstream.rollup.store import RollupStore
from sluice.v1.ingest_pb2 import Reading
from tests.support.rollup import (
    BASE_HOUR_NS,
    FAR_SPAN,
    HOUR_NS,
    assert_same_figures,
    random_readings,
    record,
    reference,
    stored,
)

pytestmark = pytest.mark.integration
BASE_S = BASE_HOUR_NS // 1_000_000_000


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RollupStore]:
    """An open store with hourly and per-minute roll-ups, on each backend in turn."""
    widths = (HOUR_S, MINUTE_S)
    if request.param == "sqlite":
        opened: RollupStore = SqliteRollupStore(tmp_path / "rollup.db", widths).open()
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        opened = PostgresRollupStore(dsn, widths, max_size=4).open()
    try:
        yield opened
    finally:
        opened.close()


def reading(device: str, value: float, at_ns: int, metric: str = "temperature") -> Reading:
    return Reading(device_id=device, metric=metric, value=value, time_unix_nano=at_ns)


def test_records_count_once_however_often_they_are_applied(store: RollupStore) -> None:
    readings = random_readings(600, seed=11)
    records = [record(readings[i : i + 50], f"s:{i}:0") for i in range(0, 600, 50)]

    first = store.apply(records)
    again = store.apply(records[3:7])
    twice_in_one = store.apply([records[0], records[0]])

    assert (first.records, first.duplicates, first.readings) == (12, 0, 600)
    assert (again.records, again.duplicates, again.readings) == (0, 4, 0)
    assert (twice_in_one.records, twice_in_one.duplicates) == (0, 2)
    assert_same_figures(stored(store, ["acme"]), reference([("acme", readings)]))


def test_a_record_twice_in_one_transaction_counts_once(store: RollupStore) -> None:
    readings = random_readings(20, seed=12)
    applied = store.apply([record(readings, "s:1:0"), record(readings, "s:1:0")])

    assert (applied.records, applied.duplicates) == (1, 1)
    assert_same_figures(stored(store, ["acme"]), reference([("acme", readings)]))


def test_the_same_event_id_from_another_source_is_another_record(store: RollupStore) -> None:
    readings = random_readings(10, seed=13)
    applied = store.apply(
        [record(readings, "s:1:0", source="gw-1"), record(readings, "s:1:0", source="gw-2")]
    )

    assert applied.records == 2
    assert_same_figures(
        stored(store, ["acme"]), reference([("acme", readings), ("acme", readings)])
    )


def test_a_late_reading_updates_its_own_hour(store: RollupStore) -> None:
    store.apply([record([reading("d", 10.0, BASE_HOUR_NS + 2 * HOUR_NS + 5)], "s:1:0")])
    store.apply([record([reading("d", 4.0, BASE_HOUR_NS + 7)], "s:2:0")])
    store.apply([record([reading("d", 1.0, BASE_HOUR_NS + 3)], "s:3:0")])

    hours = store.buckets("acme", "d", "temperature", FAR_SPAN, 10)
    assert [(h.start_s, h.aggregate.count) for h in hours] == [
        (BASE_S, 2),
        (BASE_S + 7200, 1),
    ]
    early = hours[0].aggregate
    assert (early.minimum, early.maximum, early.mean) == (1.0, 4.0, 2.5)
    assert (early.first_ns, early.last_ns) == (BASE_HOUR_NS + 3, BASE_HOUR_NS + 7)


def test_minute_roll_ups_are_kept_when_asked_for(store: RollupStore) -> None:
    minute_ns = 60 * 1_000_000_000
    store.apply(
        [
            record(
                [reading("d", v, BASE_HOUR_NS + i * minute_ns) for i, v in enumerate([1, 2, 3])],
                "s:1:0",
            )
        ]
    )

    minutes = store.buckets("acme", "d", "temperature", FAR_SPAN, 10, width=MINUTE_S)
    assert [(m.start_s - BASE_S, m.aggregate.count) for m in minutes] == [(0, 1), (60, 1), (120, 1)]


def test_reads_stay_within_the_tenant(store: RollupStore) -> None:
    store.apply(
        [
            record([reading("shared-id", 1.0, BASE_HOUR_NS)], "s:1:0", tenant="a"),
            record([reading("shared-id", 9.0, BASE_HOUR_NS)], "s:1:0", tenant="b"),
            record([reading("only-b", 9.0, BASE_HOUR_NS)], "s:2:0", tenant="b"),
        ]
    )

    assert [d.device_id for d in store.devices("a", "", 10)] == ["shared-id"]
    [hour] = store.buckets("a", "shared-id", "temperature", FAR_SPAN, 10)
    assert hour.aggregate.maximum == 1.0
    assert store.metrics("a", "only-b", "", 10) == []
    [fleet] = store.fleet_buckets("a", "temperature", FAR_SPAN, 10)
    assert (fleet.devices, fleet.aggregate.count) == (1, 1)


def test_listings_page_by_key(store: RollupStore) -> None:
    devices = [f"dev-{n:02d}" for n in range(7)]
    store.apply([record([reading(d, 1.0, BASE_HOUR_NS) for d in devices], "s:1:0")])

    first = store.devices("acme", "", 3)
    rest = store.devices("acme", first[-1].device_id, 10)

    assert [d.device_id for d in first + rest] == devices
    assert all(d.last_ns == BASE_HOUR_NS for d in first + rest)


def test_fleet_hours_merge_devices_and_rank_the_top_by_mean(store: RollupStore) -> None:
    values = {"a": [1.0, 3.0], "b": [10.0], "c": [5.0, 7.0], "d": [6.0]}
    store.apply(
        [
            record(
                [
                    reading(d, v, BASE_HOUR_NS + i)
                    for d, vs in values.items()
                    for i, v in enumerate(vs)
                ],
                "s:1:0",
            )
        ]
    )

    [hour] = store.fleet_buckets("acme", "temperature", FAR_SPAN, 10)
    top = list(store.top_devices("acme", "temperature", FAR_SPAN, 3))

    assert (hour.devices, hour.aggregate.count, hour.aggregate.total) == (4, 6, 32.0)
    assert (hour.aggregate.minimum, hour.aggregate.maximum) == (1.0, 10.0)
    assert [(t.device_id, t.aggregate.mean) for t in top] == [("b", 10.0), ("c", 6.0), ("d", 6.0)]


def test_pruned_markers_are_forgotten_and_recent_ones_kept(store: RollupStore) -> None:
    old, recent = (
        record(random_readings(5, seed=1), "s:1:0"),
        record(random_readings(5, seed=2), "s:2:0"),
    )
    store.apply([old], now_s=1_000)
    store.apply([recent], now_s=2_000)

    store.prune_processed(before_s=1_500)

    assert store.apply([old, recent], now_s=3_000).records == 1


def test_concurrent_writers_count_each_record_once(store: RollupStore) -> None:
    readings = random_readings(400, seed=21)
    records = [record(readings[i : i + 20], f"s:{i}:0") for i in range(0, 400, 20)]
    errors: list[BaseException] = []

    def apply_all(order: list[int]) -> None:
        try:
            for index in order:
                store.apply([records[index], records[(index + 1) % len(records)]])
        except BaseException as exc:
            errors.append(exc)

    forward = list(range(len(records)))
    writers = [
        threading.Thread(target=apply_all, args=(order,)) for order in (forward, forward[::-1])
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)

    assert not errors
    assert_same_figures(stored(store, ["acme"]), reference([("acme", readings)]))


def test_readings_no_store_can_keep_are_skipped_not_fatal(store: RollupStore) -> None:
    applied = store.apply(
        [
            record(
                [
                    reading("bad\x00device", 1.0, BASE_HOUR_NS),
                    reading("d", float("nan"), BASE_HOUR_NS),
                    reading("d", 2.0, BASE_HOUR_NS),
                ],
                "s:1:0",
            )
        ]
    )

    assert (applied.records, applied.readings, applied.skipped) == (1, 1, 2)
    assert [d.device_id for d in store.devices("acme", "", 10)] == ["d"]
