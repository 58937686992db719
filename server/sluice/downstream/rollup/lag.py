"""The roll-up consumer's lag, per partition it holds: how many records the group has still
to commit.

The lag of a partition is its high watermark minus the group's committed offset (its low
watermark while the group has committed nothing: the roll-up reads from the earliest
record). The high watermark is librdkafka's cached one, kept fresh by the fetches, so it
costs no request (Tansu answers ListOffsets "latest" wrongly); the committed offsets take
one request to the group coordinator per refresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Gauge

log = logging.getLogger(__name__)

LAG_INTERVAL_S: Final = 2.0
"""The shortest time between two refreshes of the lag gauge."""
COMMITTED_TIMEOUT_S: Final = 1.0
"""How long a refresh waits for the committed offsets before keeping the values shown."""

Partition = tuple[str, int]


class ConsumerLag:
    """Keeps ``gauge`` (labelled topic, partition) at the lag of the partitions a consumer
    holds; a partition it no longer holds loses its series."""

    def __init__(
        self,
        gauge: Gauge,
        interval_s: float = LAG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gauge = gauge
        self._interval_s = interval_s
        self._clock = clock
        self._next = 0.0
        self._shown: set[Partition] = set()

    def update(self, consumer: Consumer) -> None:
        """Refresh the gauge from ``consumer``, unless it was refreshed less than
        ``interval_s`` ago. Call it from the thread that polls ``consumer``."""
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._interval_s
        held = consumer.assignment()
        try:
            committed = consumer.committed(held, timeout=COMMITTED_TIMEOUT_S) if held else []
        except KafkaException as exc:
            log.debug("committed offsets unavailable; the lag shown is kept: %s", exc)
            return
        shown: set[Partition] = set()
        for partition in committed:
            lag = _lag(consumer, partition)
            if lag is not None:
                self._gauge.labels(partition.topic, str(partition.partition)).set(lag)
                shown.add((partition.topic, partition.partition))
        self._forget(self._shown - shown)
        self._shown = shown

    def clear(self) -> None:
        """Drop every series shown (the consumer left its group)."""
        self._forget(self._shown)
        self._shown = set()

    def _forget(self, partitions: set[Partition]) -> None:
        for topic, partition in partitions:
            self._gauge.remove(topic, str(partition))


def _lag(consumer: Consumer, committed: TopicPartition) -> int | None:
    """The lag of one partition, or None while it is unknown (no fetch answered yet)."""
    if committed.error is not None:
        return None
    low, high = consumer.get_watermark_offsets(committed, cached=True)
    start = committed.offset if committed.offset >= 0 else low
    if high < 0 or start < 0:
        return None
    return max(high - start, 0)
