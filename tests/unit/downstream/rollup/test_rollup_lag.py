"""The lag gauge's arithmetic and bookkeeping, over a stand-in for the consumer's offsets.

The lag against a real broker is in tests/integration/test_rollup_consumer.py; the cases here
(nothing committed yet, no fetch answered yet, a partition revoked, the coordinator away)
are hard to bring about there on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import OFFSET_INVALID, KafkaError, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry

from sluice.downstream.rollup.lag import ConsumerLag
from sluice.downstream.rollup.metrics import RollupMetrics

TOPIC = "sluice.readings.v1"
UNKNOWN = (OFFSET_INVALID, OFFSET_INVALID)


@dataclass
class Offsets:
    """What a consumer knows: its partitions, the group's commits and the cached watermarks."""

    commits: dict[int, int] = field(default_factory=dict)
    watermarks: dict[int, tuple[int, int]] = field(default_factory=dict)
    coordinator_away: bool = False

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, p) for p in sorted(self.commits)]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        if self.coordinator_away:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return [TopicPartition(TOPIC, p.partition, self.commits[p.partition]) for p in partitions]

    def get_watermark_offsets(self, partition: TopicPartition, cached: bool) -> tuple[int, int]:
        assert cached, "a request for the watermarks: Tansu answers ListOffsets wrongly"
        return self.watermarks.get(partition.partition, UNKNOWN)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[ConsumerLag, Offsets, Clock, CollectorRegistry]:
    registry = CollectorRegistry()
    clock = Clock()
    lag = ConsumerLag(RollupMetrics(registry).consumer_lag, interval_s=2.0, clock=clock)
    return lag, Offsets(), clock, registry


def shown(registry: CollectorRegistry, partition: int) -> float | None:
    return registry.get_sample_value(
        "sluice_rollup_consumer_lag_records", {"topic": TOPIC, "partition": str(partition)}
    )


def test_the_lag_is_the_high_watermark_minus_the_committed_offset() -> None:
    lag, offsets, _, registry = setup()
    offsets.commits = {0: 40, 1: OFFSET_INVALID, 2: 7}
    offsets.watermarks = {0: (0, 100), 1: (10, 25), 2: UNKNOWN}
    lag.update(offsets)  # type: ignore[arg-type]
    # Nothing committed on 1: counted from the low watermark; no fetch answered on 2 yet.
    assert (shown(registry, 0), shown(registry, 1), shown(registry, 2)) == (60, 15, None)


def test_it_refreshes_at_most_once_per_interval() -> None:
    lag, offsets, clock, registry = setup()
    offsets.commits, offsets.watermarks = {0: 40}, {0: (0, 100)}
    lag.update(offsets)  # type: ignore[arg-type]
    offsets.commits = {0: 100}
    clock.now = 1.9
    lag.update(offsets)  # type: ignore[arg-type]
    assert shown(registry, 0) == 60
    clock.now = 2.0
    lag.update(offsets)  # type: ignore[arg-type]
    assert shown(registry, 0) == 0


def test_a_partition_no_longer_held_loses_its_series_and_clear_drops_them_all() -> None:
    lag, offsets, clock, registry = setup()
    offsets.commits = {0: 1, 1: 2}
    offsets.watermarks = {0: (0, 5), 1: (0, 5)}
    lag.update(offsets)  # type: ignore[arg-type]
    del offsets.commits[0]  # revoked by a rebalance
    clock.now = 10.0
    lag.update(offsets)  # type: ignore[arg-type]
    assert (shown(registry, 0), shown(registry, 1)) == (None, 3)
    lag.clear()
    assert shown(registry, 1) is None


def test_the_lag_shown_stays_while_the_coordinator_does_not_answer() -> None:
    lag, offsets, clock, registry = setup()
    offsets.commits, offsets.watermarks = {0: 40}, {0: (0, 100)}
    lag.update(offsets)  # type: ignore[arg-type]
    offsets.coordinator_away = True
    clock.now = 10.0
    lag.update(offsets)  # type: ignore[arg-type]
    assert shown(registry, 0) == 60
