"""AckCache: remembered Acks of final batches, and joining batches still in flight."""

from __future__ import annotations

import asyncio

import pytest

from sluice.receiver.dedup import AckCache, key_for
from sluice.v1.ingest_pb2 import Ack, AckStatus


def ack(seq: int) -> Ack:
    return Ack(seq=seq, status=AckStatus.ACK_STATUS_OK, accepted=seq)


def key(seq: int) -> tuple[str, str, int]:
    return ("acme", "session-1", seq)


@pytest.mark.parametrize(
    ("tenant", "session_id", "seq", "expected"),
    [
        ("acme", "s-1", 7, ("acme", "s-1", 7)),
        ("acme", "", 7, None),
        ("", "s-1", 0, ("", "s-1", 0)),
    ],
)
def test_key_for_names_batches_with_a_session_only(
    tenant: str, session_id: str, seq: int, expected: tuple[str, str, int] | None
) -> None:
    assert key_for(tenant, session_id, seq) == expected
    assert AckCache.key_for(tenant, session_id, seq) == expected


def test_keys_differ_by_tenant_session_and_seq() -> None:
    cache = AckCache(10)
    cache.put(("acme", "s", 1), ack(1))
    assert cache.get(("acme", "s", 1)) == ack(1)
    assert cache.get(("globex", "s", 1)) is None
    assert cache.get(("acme", "t", 1)) is None
    assert cache.get(("acme", "s", 2)) is None


def test_put_replaces_the_ack_of_a_key() -> None:
    cache = AckCache(10)
    cache.put(key(1), ack(1))
    cache.put(key(1), ack(9))
    assert cache.get(key(1)) == ack(9)
    assert len(cache) == 1


def test_evicts_the_least_recently_used() -> None:
    cache = AckCache(3)
    for seq in (1, 2, 3):
        cache.put(key(seq), ack(seq))
    assert cache.get(key(1)) == ack(1)  # 1 is now the most recently used
    cache.put(key(4), ack(4))
    assert len(cache) == 3
    assert cache.get(key(2)) is None
    assert [cache.get(key(seq)) for seq in (1, 3, 4)] == [ack(1), ack(3), ack(4)]


def test_stays_bounded() -> None:
    cache = AckCache(50)
    for seq in range(1000):
        cache.put(key(seq), ack(seq))
    assert len(cache) == 50
    assert cache.get(key(949)) is None
    assert cache.get(key(950)) == ack(950)


async def test_zero_entries_disables_remembering_and_joining() -> None:
    cache = AckCache(0)
    cache.put(key(1), ack(1))
    future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
    cache.inflight_put(key(1), future)
    assert not cache.enabled
    assert cache.get(key(1)) is None
    assert cache.inflight_get(key(1)) is None
    assert len(cache) == 0


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        AckCache(-1)


@pytest.mark.parametrize("outcome", ["result", "exception", "cancel"])
async def test_an_inflight_batch_can_be_joined_until_it_completes(outcome: str) -> None:
    cache = AckCache(10)
    future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
    cache.inflight_put(key(1), future)
    assert cache.inflight_get(key(1)) is future
    assert cache.inflight_get(key(2)) is None
    assert cache.inflight_count == 1
    if outcome == "result":
        future.set_result(ack(1))
    elif outcome == "exception":
        future.set_exception(RuntimeError("delivery failed"))
        future.exception()  # retrieved, so the loop does not warn
    else:
        future.cancel()
    await asyncio.sleep(0)
    assert cache.inflight_get(key(1)) is None
    assert cache.inflight_count == 0


async def test_a_newer_inflight_future_outlives_the_older_one() -> None:
    loop = asyncio.get_running_loop()
    cache = AckCache(10)
    first: asyncio.Future[Ack] = loop.create_future()
    second: asyncio.Future[Ack] = loop.create_future()
    cache.inflight_put(key(1), first)
    cache.inflight_put(key(1), second)
    first.set_result(ack(1))
    await asyncio.sleep(0)
    assert cache.inflight_get(key(1)) is second
    second.set_result(ack(1))
    await asyncio.sleep(0)
    assert cache.inflight_get(key(1)) is None


async def test_a_future_already_done_is_not_registered() -> None:
    cache = AckCache(10)
    future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
    future.set_result(ack(1))
    cache.inflight_put(key(1), future)
    assert cache.inflight_get(key(1)) is None


async def test_an_ack_put_when_resolving_is_found_by_a_resend_at_once() -> None:
    cache = AckCache(10)
    future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
    cache.inflight_put(key(1), future)
    future.set_result(ack(1))
    cache.put(key(1), ack(1))
    # in between, before and after the done callback runs, a resend finds one or the other
    assert cache.inflight_get(key(1)) is future or cache.get(key(1)) == ack(1)
    await asyncio.sleep(0)
    assert cache.get(key(1)) == ack(1)
