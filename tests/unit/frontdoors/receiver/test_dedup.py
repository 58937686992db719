"""AckCache: remembered Acks of final batches, and joining batches still in flight."""

from __future__ import annotations

import pytest

from sluice.frontdoors.receiver.dedup import AckCache, key_for
from sluice.v1.ingest_pb2 import Ack, AckStatus, Rejection


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
    assert AckCache(10).key_for(tenant, session_id, seq) == expected


def test_keys_differ_by_tenant_session_and_seq() -> None:
    cache = AckCache(10)
    cache.put(("acme", "s", 1), ack(1))
    assert cache.get(("acme", "s", 1)) == ack(1)
    assert cache.get(("globex", "s", 1)) is None
    assert cache.get(("acme", "t", 1)) is None
    assert cache.get(("acme", "s", 2)) is None


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
    assert cache.get(key(5)) == remembered


def test_every_field_of_an_ack_is_either_kept_or_checked_before_it_is_dropped() -> None:
    # The cache keeps a plain OK Ack as its accepted count; a field added to Ack must be
    # checked there too (dedup._plain_ok), or a remembered Ack would come back without it.
    assert {field.name for field in Ack.DESCRIPTOR.fields} == {
        "seq", "status", "accepted", "rejections", "retry_after_ms", "reason",
    }  # fmt: skip


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


def test_zero_entries_disables_remembering_and_joining() -> None:
    cache = AckCache(0)
    cache.put(key(1), ack(1))
    assert cache.get(key(1)) is None
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
    assert (cache.get(key(1)) == ack(1)) is final


def test_settling_a_key_not_in_flight_answers_nobody() -> None:
    cache = AckCache(10)
    assert cache.settle(key(3), ack(3), final=True) == []
    assert cache.get(key(3)) == ack(3)
