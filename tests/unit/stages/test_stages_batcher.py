"""RecordBuilder: a batch leaves with its readings records, then its dead letter if allowed."""

from __future__ import annotations

import pytest

from sluice.core.batch import Batch
from sluice.core.config.kafka import KafkaConfig
from sluice.stages.batcher import RecordBuilder
from tests.support.batches import fault, make_batch, reading
from tests.support.sinks import RecordingSink

CONFIG = KafkaConfig(topic="readings", dlq_topic="dead")


class DeadLetterBudget:
    """``allow_dlq``: answers as told and remembers which tenants asked."""

    def __init__(self, allow: bool) -> None:
        self.allow = allow
        self.asked: list[str] = []

    def __call__(self, tenant: str) -> bool:
        self.asked.append(tenant)
        return self.allow


async def build(batch: Batch, budget: DeadLetterBudget) -> RecordingSink:
    next_stage = RecordingSink(hold=True)
    builder = RecordBuilder(CONFIG, budget, next_stage)
    await builder.consume(batch)
    return next_stage


@pytest.mark.parametrize(
    ("allow", "topics"),
    [(True, ["readings", "dead"]), (False, ["readings"])],
)
async def test_a_faulty_batch_gets_a_dead_letter_only_within_the_tenants_budget(
    allow: bool, topics: list[str]
) -> None:
    budget = DeadLetterBudget(allow)
    batch = make_batch([reading(), reading()], faults=[fault(0)], tenant="acme")

    next_stage = await build(batch, budget)

    assert next_stage.batches == [batch]
    assert [r.topic for r in batch.records] == topics
    assert budget.asked == ["acme"]


async def test_a_clean_batch_never_asks_for_dead_letter_budget() -> None:
    budget = DeadLetterBudget(allow=True)
    batch = make_batch([reading()])

    await build(batch, budget)

    assert [r.topic for r in batch.records] == ["readings"]
    assert budget.asked == []
