"""The purge ledger: which segment a purged record goes to, and when purges are settled."""

from __future__ import annotations

from sluice.delivery.purges import PurgeLedger


def test_a_record_goes_to_the_first_purge_made_after_it_was_produced() -> None:
    ledger = PurgeLedger()
    ledger.purged(10.0, segment=3)
    ledger.purged(20.0, segment=7)

    assert ledger.segment_for(5.0) == 3
    assert ledger.segment_for(10.0) == 3
    assert ledger.segment_for(15.0) == 7
    assert ledger.segment_for(25.0) is None  # after every purge: behind everything else


def test_spilled_records_are_kept_per_segment_in_the_order_they_came() -> None:
    ledger = PurgeLedger()
    ledger.purged(10.0, segment=3)
    ledger.purged(20.0, segment=7)

    for produced_at in (9.0, 4.0, 15.0, 6.0):
        segment = ledger.segment_for(produced_at)
        assert segment is not None
        ledger.spilled(segment, produced_at)

    first, second = ledger.head(2)
    assert (first.segment, first.produced_at) == (3, [9.0, 4.0, 6.0])
    assert (second.segment, second.produced_at) == (7, [15.0])


def test_purges_settle_only_once_every_record_produced_before_the_last_is_reported() -> None:
    ledger = PurgeLedger()
    assert ledger.settled(None) == 0
    ledger.purged(10.0, segment=3)
    ledger.purged(20.0, segment=7)

    assert ledger.settled(oldest_undelivered_at=5.0) == 0
    assert ledger.settled(oldest_undelivered_at=20.0) == 0
    assert ledger.settled(oldest_undelivered_at=20.5) == 2
    assert ledger.settled(oldest_undelivered_at=None) == 2


def test_forgetting_settled_purges_keeps_the_later_ones() -> None:
    ledger = PurgeLedger()
    ledger.purged(10.0, segment=3)
    ledger.purged(20.0, segment=7)

    ledger.forget(1)

    assert ledger.unsettled
    assert [purge.segment for purge in ledger.head(5)] == [7]
    assert ledger.segment_for(5.0) == 7
    ledger.forget(1)
    assert not ledger.unsettled
