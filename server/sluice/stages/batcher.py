"""The batcher stage: turns a checked batch into the Kafka records it will be produced as."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sluice.core.batch import Batch
from sluice.core.config.kafka import KafkaConfig
from sluice.delivery.kafka.records import dead_letter_record, readings_records
from sluice.stages.stage import Stage


class RecordBuilder:
    """Sets ``batch.records`` (readings records, then the dead-letter record) and hands it on.

    A batch with faults gets a dead-letter record only while ``allow_dlq(tenant)`` says the
    tenant's dead-letter budget has room; the limiter behind it counts its own refusals.
    """

    def __init__(
        self,
        config: KafkaConfig,
        allow_dlq: Callable[[str], bool],
        next_stage: Stage,
    ) -> None:
        self._config = config
        self._allow_dlq = allow_dlq
        self._next = next_stage

    async def start(self) -> None:
        """Nothing to acquire: records are built inline."""

    async def shutdown(self) -> None:
        """Nothing to drain: the builder holds no batch between calls."""

    def consume(self, batch: Batch) -> Awaitable[None]:
        """Build the records of ``batch`` and hand it to the next stage."""
        config = self._config
        records = readings_records(batch, config)
        if batch.faults and self._allow_dlq(batch.tenant):
            records.append(dead_letter_record(batch, config))
        batch.records = records
        return self._next.consume(batch)
