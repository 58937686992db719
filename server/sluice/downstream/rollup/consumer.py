"""The roll-up consumer loop: Kafka records, then one store transaction, then the offsets.

Each round takes up to ``batch_max_records`` records from the partitions this member of
the consumer group holds, decodes them, applies them to the store in one transaction, and
only then commits their offsets, synchronously. Offsets are never committed automatically.

- A crash before the store commits: nothing was counted; the records come again.
- A crash between the store's commit and the offset commit: the records come again and
  the processed-records table recognises every one of them.
- A failed store transaction is retried after ``retry_backoff_s``, until it succeeds or a
  stop is requested (then nothing of that round is committed).
- A stop request lets the current round finish (transaction and offsets), then the consumer
  leaves the group.

Between rounds, and while a failed transaction waits for its retry, the lag of each partition
held is refreshed (``sluice_rollup_consumer_lag_records``, at most every few seconds).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from sluice.core.config.kafka import KafkaConfig
from sluice.core.config.rollup import RollupConfig
from sluice.downstream.rollup.decode import DecodedRecord, UndecodableRecord, decode_record
from sluice.downstream.rollup.lag import ConsumerLag
from sluice.downstream.rollup.metrics import RollupMetrics
from sluice.downstream.rollup.store import Applied, RollupStore, StoreUnavailable

log = logging.getLogger(__name__)
librdkafka_log = logging.getLogger("sluice.kafka.librdkafka")

PRUNE_INTERVAL_S: Final = 600.0
"""How often the processed markers older than ``processed_retention_h`` are deleted."""


def consumer_properties(config: RollupConfig, kafka: KafkaConfig) -> dict[str, Any]:
    """The librdkafka properties of the roll-up consumer."""
    return {
        "bootstrap.servers": kafka.bootstrap_servers,
        "auto.offset.reset": "earliest",
        **kafka.client,
        **config.client,
        "group.id": config.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "logger": librdkafka_log,
    }


class RollupConsumer:
    """One consumer-group member rolling ``kafka.topic`` up into ``store``."""

    def __init__(
        self,
        config: RollupConfig,
        kafka: KafkaConfig,
        store: RollupStore,
        metrics: RollupMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._kafka = kafka
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._lag = ConsumerLag(metrics.consumer_lag)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; then leave the group. Blocking: run it on a thread."""
        consumer = Consumer(consumer_properties(self._config, self._kafka))
        next_prune = 0.0
        try:
            consumer.subscribe([self._kafka.topic])
            log.info(
                "roll-up consuming",
                extra={"topic": self._kafka.topic, "group_id": self._config.group_id},
            )
            while not stop.is_set():
                messages = consumer.consume(
                    self._config.batch_max_records, self._config.poll_timeout_s
                )
                if messages:
                    self._round(consumer, messages, stop)
                self._lag.update(consumer)
                if time.monotonic() >= next_prune:
                    self._prune()
                    next_prune = time.monotonic() + PRUNE_INTERVAL_S
        finally:
            self._lag.clear()
            consumer.close()
            log.info("roll-up consumer closed")

    def _round(
        self, consumer: Consumer, messages: Sequence[Message], stop: threading.Event
    ) -> None:
        records: list[DecodedRecord] = []
        offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                log.warning("Kafka consumer error: %s", error.str())
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if topic is None or partition is None or offset is None:
                continue  # only error events lack a position
            offsets[(topic, partition)] = offset + 1
            try:
                records.append(decode_record(message.headers(), message.value()))
            except UndecodableRecord as exc:
                self._metrics.records.labels("undecodable").inc()
                log.warning(
                    "skipping an undecodable record: %s",
                    exc,
                    extra={"topic": topic, "partition": partition, "offset": offset},
                )
        if records and self._apply(consumer, records, stop) is None:
            return
        if offsets:
            self._commit(consumer, offsets)

    def _apply(
        self, consumer: Consumer, records: list[DecodedRecord], stop: threading.Event
    ) -> Applied | None:
        """Apply ``records``, retrying failed transactions; None if stopped first."""
        while True:
            started = time.perf_counter()
            try:
                applied = self._store.apply(records, int(self._clock()))
            except StoreUnavailable as exc:
                self._metrics.store_errors.inc()
                log.warning(
                    "roll-up store transaction failed; retrying in %.1fs: %s",
                    self._config.retry_backoff_s,
                    exc,
                )
                if stop.wait(self._config.retry_backoff_s):
                    return None
                self._lag.update(consumer)
                continue
            metrics = self._metrics
            metrics.transaction_latency.observe(time.perf_counter() - started)
            metrics.records.labels("applied").inc(applied.records)
            metrics.records.labels("duplicate").inc(applied.duplicates)
            metrics.readings.inc(applied.readings)
            return applied

    def _commit(self, consumer: Consumer, offsets: dict[tuple[str, int], int]) -> None:
        partitions = [TopicPartition(t, p, offset) for (t, p), offset in offsets.items()]
        try:
            consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as exc:
            # Harmless: the records come again, and the store counts each one once.
            self._metrics.commit_errors.inc()
            log.warning("offset commit failed; the records will be redelivered: %s", exc)

    def _prune(self) -> None:
        horizon = int(self._clock() - self._config.processed_retention_h * 3600)
        try:
            self._store.prune_processed(horizon)
        except StoreUnavailable as exc:
            log.warning("could not prune the processed-records table: %s", exc)
