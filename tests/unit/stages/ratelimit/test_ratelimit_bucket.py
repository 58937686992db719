"""TokenBucket: refill, burst, debt and waits, on a clock the tests control."""

from __future__ import annotations

import pytest

from sluice.stages.ratelimit.bucket import TokenBucket

T0 = 1000.0


def test_starts_full() -> None:
    bucket = TokenBucket(rate=10, burst=50, now=T0)
    assert bucket.level(T0) == 50
    assert bucket.is_full(T0)
    assert bucket.wait_for(50, T0) == 0.0


@pytest.mark.parametrize(
    ("rate", "burst", "taken", "elapsed", "expected_level"),
    [
        (10, 50, 50, 0.0, 0.0),
        (10, 50, 50, 1.0, 10.0),
        (10, 50, 50, 2.5, 25.0),
        (10, 50, 20, 1.0, 40.0),
        (10, 50, 50, 100.0, 50.0),  # refill stops at the burst
        (0.5, 2, 2, 3.0, 1.5),
        (1e6, 1e6, 1e6, 0.25, 250_000.0),
    ],
)
def test_refill_is_linear_and_capped_at_burst(
    rate: float, burst: float, taken: float, elapsed: float, expected_level: float
) -> None:
    bucket = TokenBucket(rate, burst, T0)
    bucket.take(taken, T0)
    assert bucket.level(T0 + elapsed) == pytest.approx(expected_level)


@pytest.mark.parametrize(
    ("rate", "burst", "taken", "wanted", "expected_wait"),
    [
        (10, 50, 0, 50, 0.0),
        (10, 50, 50, 1, 0.1),
        (10, 50, 50, 50, 5.0),
        (10, 50, 45, 10, 0.5),
        (4, 8, 8, 3, 0.75),
        # larger than the burst: wait only until the bucket is full
        (10, 50, 0, 500, 0.0),
        (10, 50, 20, 500, 2.0),
    ],
)
def test_wait_for(
    rate: float, burst: float, taken: float, wanted: float, expected_wait: float
) -> None:
    bucket = TokenBucket(rate, burst, T0)
    bucket.take(taken, T0)
    assert bucket.wait_for(wanted, T0) == pytest.approx(expected_wait)


def test_wait_for_changes_nothing() -> None:
    bucket = TokenBucket(rate=10, burst=50, now=T0)
    bucket.take(40, T0)
    first = bucket.wait_for(30, T0 + 1)
    second = bucket.wait_for(30, T0 + 1)
    assert first == second == pytest.approx(1.0)
    assert bucket.level(T0 + 1) == pytest.approx(20.0)


def test_oversized_request_drives_full_bucket_into_debt() -> None:
    bucket = TokenBucket(rate=10, burst=50, now=T0)
    assert bucket.wait_for(200, T0) == 0.0
    bucket.take(200, T0)
    assert bucket.level(T0) == -150
    assert bucket.wait_for(1, T0) == pytest.approx(15.1)
    # once the debt is paid and the bucket full again, the same oversized request is granted
    assert bucket.wait_for(200, T0 + 20) == 0.0


@pytest.mark.parametrize(
    ("rate", "burst", "taken", "wanted"),
    [
        (3, 1, 1, 1),
        (7, 0.3, 0.3, 0.1),
        (1 / 3, 10, 10, 7),
        (1e9, 3e9, 3e9, 1234567),
        (0.001, 1, 1, 1),
    ],
)
def test_waiting_the_given_time_is_always_enough(
    rate: float, burst: float, taken: float, wanted: float
) -> None:
    bucket = TokenBucket(rate, burst, T0)
    bucket.take(taken, T0)
    wait = bucket.wait_for(wanted, T0)
    assert wait > 0
    assert bucket.wait_for(wanted, T0 + wait) == 0.0


def test_take_accumulates_debt_from_reservations() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=T0)
    bucket.take(10, T0)
    bucket.take(5, T0)
    bucket.take(5, T0)
    assert bucket.wait_for(10, T0) == pytest.approx(2.0)


def test_give_back_returns_tokens_up_to_the_burst() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=T0)
    bucket.take(15, T0)
    bucket.give_back(5, T0)
    assert bucket.level(T0) == pytest.approx(0.0)
    bucket.give_back(100, T0)
    assert bucket.level(T0) == 10


def test_is_full_only_once_refilled() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=T0)
    bucket.take(5, T0)
    assert not bucket.is_full(T0 + 0.4)
    assert bucket.is_full(T0 + 0.5)


def test_a_clock_that_steps_back_does_not_refill() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=T0)
    bucket.take(10, T0)
    assert bucket.level(T0 - 5) == 0.0


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (1, 0), (-1, 1), (1, -1)])
def test_rate_and_burst_must_be_positive(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        TokenBucket(rate, burst, T0)
