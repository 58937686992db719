"""The divert decision: Kafka, the spool, or a refusal, and whether the sink accepts at all."""

from __future__ import annotations

import pytest

from sluice.delivery.routing import Route, SinkState, accepting, route


@pytest.mark.parametrize(("breaker_open", "expected"), [(False, Route.KAFKA), (True, Route.REFUSE)])
def test_without_a_spool_only_the_breaker_decides(breaker_open: bool, expected: Route) -> None:
    assert route(SinkState(breaker_open=breaker_open, spooling=False)) is expected


def test_with_a_spool_and_nothing_pending_batches_go_to_kafka() -> None:
    assert route(SinkState(breaker_open=False, spooling=True)) is Route.KAFKA


@pytest.mark.parametrize(
    "why",
    ["breaker_open", "spool_holds_data", "replaying", "purges_unsettled"],
)
def test_with_a_spool_any_older_batch_not_yet_in_kafka_diverts_new_ones(why: str) -> None:
    state = SinkState(**{"breaker_open": False, "spooling": True, why: True})  # type: ignore[arg-type]

    assert route(state) is Route.SPOOL


def test_a_full_spool_still_takes_the_route_and_refuses_in_the_spool_itself() -> None:
    state = SinkState(breaker_open=True, spooling=True, spool_full=True)

    assert route(state) is Route.SPOOL


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (SinkState(breaker_open=False, spooling=False), True),
        (SinkState(breaker_open=True, spooling=False), False),
        (SinkState(breaker_open=True, spooling=True), True),
        (SinkState(breaker_open=True, spooling=True, spool_full=True), False),
        (SinkState(breaker_open=False, spooling=True, spool_full=True), True),
    ],
)
def test_the_sink_accepts_unless_nothing_can_be_made_durable(
    state: SinkState, expected: bool
) -> None:
    assert accepting(state) is expected
