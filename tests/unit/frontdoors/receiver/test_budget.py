"""InflightBudget: the bounded queue between the receiver and Kafka."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from sluice.frontdoors.receiver.budget import InflightBudget
from sluice.ops.metrics import Metrics

LONG = 5.0
"""A timeout no test reaches: waiters here are released or cancelled well before it."""


def make(max_bytes: int = 100, max_readings: int = 10) -> tuple[InflightBudget, CollectorRegistry]:
    registry = CollectorRegistry()
    return InflightBudget(max_bytes, max_readings, Metrics(registry)), registry


def gauges(registry: CollectorRegistry) -> tuple[float | None, float | None]:
    return (
        registry.get_sample_value("sluice_queue_bytes"),
        registry.get_sample_value("sluice_queue_readings"),
    )


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


def holding(budget: InflightBudget) -> tuple[int, int]:
    return budget.held_bytes, budget.held_readings


async def test_acquire_and_release_track_what_is_held_and_the_gauges() -> None:
    budget, registry = make()
    assert await budget.acquire(30, 3, timeout=LONG)
    assert await budget.acquire(20, 2, timeout=LONG)
    assert holding(budget) == (50, 5)
    assert gauges(registry) == (50, 5)
    budget.release(30, 3)
    assert holding(budget) == (20, 2)
    assert gauges(registry) == (20, 2)


@pytest.mark.parametrize(
    ("held", "wanted"),
    [
        ((90, 1), (20, 1)),  # bytes would overflow
        ((10, 9), (10, 2)),  # readings would overflow
    ],
)
async def test_acquire_waits_until_both_fit(held: tuple[int, int], wanted: tuple[int, int]) -> None:
    budget, registry = make()
    assert await budget.acquire(*held, timeout=LONG)
    waiter = asyncio.create_task(budget.acquire(*wanted, timeout=LONG))
    await settle()
    assert not waiter.done()
    assert budget.waiting == 1
    budget.release(*held)
    assert await waiter
    assert holding(budget) == wanted
    assert gauges(registry) == wanted


async def test_acquire_times_out_holding_nothing() -> None:
    budget, registry = make()
    assert await budget.acquire(100, 10, timeout=LONG)
    assert not await budget.acquire(1, 1, timeout=0.01)
    assert holding(budget) == (100, 10)
    assert gauges(registry) == (100, 10)
    assert budget.waiting == 0


async def test_zero_timeout_answers_at_once() -> None:
    budget, _ = make()
    assert await budget.acquire(100, 10, timeout=0)
    assert not await budget.acquire(1, 1, timeout=0)
    assert budget.waiting == 0


async def test_waiters_are_served_first_come_first_served() -> None:
    budget, _ = make(max_bytes=100, max_readings=100)
    granted: list[str] = []

    async def acquire(name: str, nbytes: int) -> None:
        assert await budget.acquire(nbytes, 1, timeout=LONG)
        granted.append(name)

    assert await budget.acquire(80, 1, timeout=LONG)
    big = asyncio.create_task(acquire("big", 100))
    await settle()
    # 10 bytes would fit right now, but the big waiter came first
    small = asyncio.create_task(acquire("small", 10))
    await settle()
    assert granted == []
    budget.release(80, 1)
    await settle()
    assert granted == ["big"]
    budget.release(100, 1)
    await asyncio.gather(big, small)
    assert granted == ["big", "small"]


async def test_release_admits_every_waiter_that_now_fits_in_order() -> None:
    budget, _ = make(max_bytes=100, max_readings=100)
    assert await budget.acquire(100, 1, timeout=LONG)
    waiters = [asyncio.create_task(budget.acquire(30, 1, timeout=LONG)) for _ in range(4)]
    await settle()
    budget.release(100, 1)
    await settle()
    assert [w.done() for w in waiters] == [True, True, True, False]
    assert holding(budget) == (90, 3)
    budget.release(30, 1)
    assert await asyncio.gather(*waiters) == [True] * 4


async def test_an_oversized_item_is_admitted_when_nothing_else_is_held() -> None:
    budget, registry = make(max_bytes=100, max_readings=10)
    assert await budget.acquire(500, 50, timeout=0)
    assert holding(budget) == (500, 50)
    budget.release(500, 50)

    assert await budget.acquire(1, 1, timeout=LONG)
    oversized = asyncio.create_task(budget.acquire(500, 50, timeout=LONG))
    await settle()
    assert not oversized.done()
    budget.release(1, 1)
    assert await oversized
    assert gauges(registry) == (500, 50)


async def test_a_head_waiter_that_times_out_lets_those_behind_it_in() -> None:
    budget, _ = make(max_bytes=100, max_readings=100)
    assert await budget.acquire(50, 1, timeout=LONG)
    big = asyncio.create_task(budget.acquire(100, 1, timeout=0.01))
    await settle()
    small = asyncio.create_task(budget.acquire(10, 1, timeout=LONG))
    assert not await big
    assert await small
    assert holding(budget) == (60, 2)


async def test_a_cancelled_waiter_holds_nothing_and_unblocks_the_queue() -> None:
    budget, _ = make(max_bytes=100, max_readings=100)
    assert await budget.acquire(50, 1, timeout=LONG)
    big = asyncio.create_task(budget.acquire(100, 1, timeout=LONG))
    await settle()
    small = asyncio.create_task(budget.acquire(10, 1, timeout=LONG))
    await settle()
    big.cancel()
    with pytest.raises(asyncio.CancelledError):
        await big
    assert await small
    assert holding(budget) == (60, 2)
    assert budget.waiting == 0


async def test_a_waiter_cancelled_just_after_its_grant_gives_it_back() -> None:
    budget, registry = make(max_bytes=100, max_readings=100)
    assert await budget.acquire(100, 1, timeout=LONG)
    waiter = asyncio.create_task(budget.acquire(40, 4, timeout=LONG))
    await settle()
    budget.release(100, 1)  # grants the waiter, which has not run yet
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert holding(budget) == (0, 0)
    assert gauges(registry) == (0, 0)


async def test_releasing_more_than_is_held_is_an_error() -> None:
    budget, _ = make()
    assert await budget.acquire(10, 1, timeout=LONG)
    with pytest.raises(ValueError, match="only 10 and 1 are held"):
        budget.release(11, 1)
    assert holding(budget) == (10, 1)


@pytest.mark.parametrize(("max_bytes", "max_readings"), [(0, 1), (1, 0), (-5, 5)])
def test_maxima_must_be_positive(max_bytes: int, max_readings: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        make(max_bytes, max_readings)
