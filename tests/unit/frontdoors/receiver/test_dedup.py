"""AckCache: remembered Acks of final batches, and joining batches still in flight."""

from __future__ import annotations

import gc

import pytest

from sluice.frontdoors.receiver.dedup import AckCache, key_for
from sluice.v1.ingest_pb2 import Ack, AckStatus, Rejection


def ack(seq: int) -> Ack:
    return Ack(seq=seq, status=AckStatus.ACK_STATUS_OK, accepted=seq)


def key(seq: int) -> bytes:
    named = key_for("acme", "session-1", seq)
    assert named is not None
    return named


def recall(cache: AckCache, seq: int) -> Ack | None:
    return cache.get(key(seq), seq)


@pytest.mark.parametrize(
    ("tenant", "session_id", "seq", "named"),
    [("acme", "s-1", 7, True), ("acme", "", 7, False), ("", "s-1", 0, True)],
)
def test_key_for_names_batches_with_a_session_only(
    tenant: str, session_id: str, seq: int, named: bool
) -> None:
    assert (key_for(tenant, session_id, seq) is not None) is named
    assert AckCache(10).key_for(tenant, session_id, seq) == key_for(tenant, session_id, seq)


@pytest.mark.parametrize(
    "other",
    [
        ("globex", "s", 1),
        ("acme", "t", 1),
        ("acme", "s", 2),
        ("acm", "es", 1),  # the same characters, split otherwise
        ("acme", "s1", 1),
        ("acme", "s", 11),
    ],
)
def test_keys_differ_by_tenant_session_and_seq(other: tuple[str, str, int]) -> None:
    cache = AckCache(10)
    first = key_for("acme", "s", 1)
    assert first is not None
    cache.put(first, ack(1))
    assert cache.get(first, 1) == ack(1)
    assert key_for("acme", "s", 1) == first  # the same batch always gets the same name
    second = key_for(*other)
    assert second is not None
    assert second != first
    assert cache.get(second, other[2]) is None


def test_keys_are_not_tracked_by_the_garbage_collector() -> None:
    # A remembered key outlives its batch; an untracked one never makes the cyclic
    # collector run (or scan) more while the cache fills.
    assert not gc.is_tracked(key(1))


@pytest.mark.parametrize(
    "remembered",
    [
        Ack(seq=5, status=AckStatus.ACK_STATUS_OK, accepted=100),
        Ack(seq=5, status=AckStatus.ACK_STATUS_OK),
        Ack(seq=5, status=AckStatus.ACK_STATUS_OK, accepted=3, retry_after_ms=10, reason="odd"),
        Ack(
            seq=5,
            status=AckStatus.ACK_STATUS_PARTIAL,
            accepted=1,
            rejections=[Rejection(index=1, reason="VALUE_NOT_FINITE", message="value is NaN")],
        ),
        Ack(seq=5, status=AckStatus.ACK_STATUS_REJECTED, reason="NO_VALID_READINGS"),
    ],
    ids=["ok", "ok-empty", "ok-with-more-fields", "partial", "rejected"],
)
def test_a_remembered_ack_comes_back_field_for_field(remembered: Ack) -> None:
    cache = AckCache(10)
    cache.put(key(5), remembered)
    assert recall(cache, 5) == remembered


def test_every_field_of_an_ack_is_either_kept_or_checked_before_it_is_dropped() -> None:
    # The cache keeps a plain OK Ack as its accepted count; a field added to Ack must be
    # checked there too (dedup._plain_ok), or a remembered Ack would come back without it.
    assert {field.name for field in Ack.DESCRIPTOR.fields} == {
        "seq", "status", "accepted", "rejections", "retry_after_ms", "reason",
    }  # fmt: skip


def test_put_replaces_the_ack_of_a_key() -> None:
    cache = AckCache(10)
    second = Ack(seq=1, status=AckStatus.ACK_STATUS_OK, accepted=9)
    cache.put(key(1), ack(1))
    cache.put(key(1), second)
    assert recall(cache, 1) == second
    assert len(cache) == 1


def test_evicts_the_least_recently_used() -> None:
    cache = AckCache(3)
    for seq in (1, 2, 3):
        cache.put(key(seq), ack(seq))
    assert recall(cache, 1) == ack(1)  # 1 is now the most recently used
    cache.put(key(4), ack(4))
    assert len(cache) == 3
    assert recall(cache, 2) is None
    assert [recall(cache, seq) for seq in (1, 3, 4)] == [ack(1), ack(3), ack(4)]


def test_stays_bounded() -> None:
    cache = AckCache(50)
    for seq in range(1000):
        cache.put(key(seq), ack(seq))
    assert len(cache) == 50
    assert recall(cache, 949) is None
    assert recall(cache, 950) == ack(950)


def test_zero_entries_disables_remembering_and_joining() -> None:
    cache = AckCache(0)
    cache.put(key(1), ack(1))
    assert recall(cache, 1) is None
    assert cache.key_for("t", "s", 1) is None
    assert len(cache) == 0


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        AckCache(-1)


@pytest.mark.parametrize("final", [True, False])
def test_a_batch_in_flight_can_be_joined_until_it_settles(final: bool) -> None:
    cache = AckCache(10)
    answered: list[tuple[str, Ack]] = []
    cache.begin(key(1), lambda a: answered.append(("first", a)))
    assert cache.join(key(1), lambda a: answered.append(("resend", a)))
    assert not cache.join(key(2), lambda a: answered.append(("other", a)))
    assert cache.inflight_count == 1
    for callback in cache.settle(key(1), ack(1), final):
        callback(ack(1))
    assert answered == [("first", ack(1)), ("resend", ack(1))]
    assert cache.inflight_count == 0
    assert not cache.join(key(1), lambda a: None)
    assert (recall(cache, 1) == ack(1)) is final


def test_settling_a_key_not_in_flight_answers_nobody() -> None:
    cache = AckCache(10)
    assert cache.settle(key(3), ack(3), final=True) == []
    assert recall(cache, 3) == ack(3)
