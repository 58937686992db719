"""Roll-up arithmetic: hour buckets, the figures of a bucket, merging, non-finite values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.downstream.rollup.aggregate import HOUR_S, MINUTE_S, Aggregate, Rollup, bucket_start
from sluice.v1.ingest_pb2 import Reading, ReadingBatch
from tests.support.rollup import (
    BASE_HOUR_NS,
    HOUR_NS,
    assert_same_figures,
    random_readings,
    reference,
)

S = 1_000_000_000
BASE_S = BASE_HOUR_NS // S


@pytest.mark.parametrize(
    ("time_ns", "width", "start"),
    [
        (BASE_HOUR_NS, HOUR_S, BASE_S),
        (BASE_HOUR_NS + 1, HOUR_S, BASE_S),
        (BASE_HOUR_NS + HOUR_NS - 1, HOUR_S, BASE_S),
        (BASE_HOUR_NS + HOUR_NS, HOUR_S, BASE_S + 3600),
        (BASE_HOUR_NS - 1, HOUR_S, BASE_S - 3600),
        (0, HOUR_S, 0),
        (-1, HOUR_S, -3600),
        (BASE_HOUR_NS + 61 * S, MINUTE_S, BASE_S + 60),
        (BASE_HOUR_NS + 59 * S + S - 1, MINUTE_S, BASE_S),
    ],
)
def test_a_reading_falls_in_the_bucket_holding_its_event_time(
    time_ns: int, width: int, start: int
) -> None:
    assert bucket_start(time_ns, width) == start


def test_the_figures_of_each_hour_equal_a_reference() -> None:
    readings = random_readings(2_000, seed=1)
    rollup = Rollup()
    for offset in range(0, len(readings), 100):
        rollup.add_batch("acme", ReadingBatch(readings=readings[offset : offset + 100]))

    actual = dict(rollup.rows(HOUR_S))
    assert_same_figures(actual, reference([("acme", readings)]))
    assert rollup.readings == 2_000
    assert len(actual) == 3 * 2 * 3  # every device x metric x hour got readings


def test_tenants_are_rolled_up_apart() -> None:
    reading = Reading(device_id="d", metric="m", value=1.0, time_unix_nano=BASE_HOUR_NS)
    rollup = Rollup()
    rollup.add_batch("a", ReadingBatch(readings=[reading]))
    rollup.add_batch("b", ReadingBatch(readings=[reading, reading]))

    counts = {key[0]: agg.count for key, agg in rollup.rows(HOUR_S)}
    assert counts == {"a": 1, "b": 2}


def test_minute_buckets_are_kept_beside_the_hours() -> None:
    times = [BASE_HOUR_NS, BASE_HOUR_NS + 30 * S, BASE_HOUR_NS + 90 * S]
    batch = ReadingBatch(
        readings=[Reading(device_id="d", metric="m", value=2.0, time_unix_nano=t) for t in times]
    )
    rollup = Rollup((HOUR_S, MINUTE_S))
    rollup.add_batch("a", batch)

    assert [(key[3], agg.count) for key, agg in rollup.rows(HOUR_S)] == [(BASE_S, 3)]
    assert [(key[3], agg.count) for key, agg in rollup.rows(MINUTE_S)] == [
        (BASE_S, 2),
        (BASE_S + 60, 1),
    ]


def _reading(value: float, device: str = "d", metric: str = "m") -> Reading:
    return Reading(device_id=device, metric=metric, value=value, time_unix_nano=BASE_HOUR_NS)


@pytest.mark.parametrize(
    "bad",
    [
        _reading(math.nan),
        _reading(math.inf),
        _reading(-math.inf),
        _reading(5.0, device="d\x00"),
        _reading(5.0, metric="m\x00x"),
    ],
)
def test_a_reading_no_store_can_keep_is_left_out_and_counted(bad: Reading) -> None:
    batch = ReadingBatch(readings=[_reading(1.0), bad, _reading(3.0)])
    rollup = Rollup()
    rollup.add_batch("a", batch)

    [(_, aggregate)] = rollup.rows(HOUR_S)
    assert (aggregate.count, aggregate.total, aggregate.minimum, aggregate.maximum) == (
        2,
        4.0,
        1.0,
        3.0,
    )
    assert (rollup.readings, rollup.skipped) == (2, 1)


def test_mean_is_the_sum_over_the_count() -> None:
    aggregate = Aggregate.of(1.0, 5)
    aggregate.add(2.0, 3)
    aggregate.add(6.0, 9)

    assert aggregate == Aggregate(3, 9.0, 1.0, 6.0, 3, 9)
    assert aggregate.mean == 3.0


values = st.lists(
    st.tuples(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-(10**15), 10**15)),
    min_size=2,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(values, st.data())
def test_merging_the_parts_equals_aggregating_the_whole(
    items: list[tuple[float, int]], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(1, len(items) - 1))
    whole = Aggregate.of(*items[0])
    for value, at in items[1:]:
        whole.add(value, at)
    left = Aggregate.of(*items[0])
    for value, at in items[1:cut]:
        left.add(value, at)
    right = Aggregate.of(*items[cut])
    for value, at in items[cut + 1 :]:
        right.add(value, at)

    left.merge(right)

    assert (left.count, left.minimum, left.maximum, left.first_ns, left.last_ns) == (
        whole.count,
        whole.minimum,
        whole.maximum,
        whole.first_ns,
        whole.last_ns,
    )
    assert left.total == pytest.approx(whole.total, rel=1e-9, abs=1e-6)
