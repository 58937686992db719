"""Pipeline ``Batch``es, and a record builder, durable sink and producer over a real broker,
for the delivery tests (call inside a running event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry

from sluice.core.batch import Batch, ReadingFault
from sluice.core.config.kafka import KafkaConfig
from sluice.core.config.spool import SpoolConfig
from sluice.delivery.sink import DurableSink
from sluice.ops.metrics import Metrics
from sluice.stages.batcher import RecordBuilder
from sluice.v1.ingest_pb2 import Reading, ReadingBatch

RECEIVED_NS = 1_767_323_045_678_901_234
RECEIVED_RFC3339 = "2026-01-02T03:04:05.678901Z"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def reading(
    device: str = "dev-1", value: float = 21.5, tags: dict[str, str] | None = None
) -> Reading:
    """A normalised reading."""
    return Reading(
        device_id=device,
        time_unix_nano=1_767_323_000_000_000_000,
        metric="temperature",
        value=value,
        unit="°C",
        tags={"zone": "a"} if tags is None else tags,
    )


def make_batch(
    readings: Iterable[Reading],
    *,
    faults: Iterable[ReadingFault] = (),
    changed: bool = False,
    tenant: str = "acme",
    seq: int = 7,
    source_id: str = "gw-1",
    session_id: str = "sess-1",
    traceparent: str = TRACEPARENT,
) -> Batch:
    """A checked batch whose ``raw`` is exactly its message as the client sent it."""
    message = ReadingBatch(
        seq=seq, source_id=source_id, session_id=session_id, readings=list(readings)
    )
    batch = Batch(
        tenant=tenant,
        raw=message.SerializeToString(),
        parsed=message,
        received_unix_ns=RECEIVED_NS,
        received_monotonic=0.0,
        done=asyncio.get_running_loop().create_future(),
        traceparent=traceparent,
    )
    # What the checker hands on: the accepted readings encoded, unless that is raw itself.
    faults = list(faults)
    value = None
    if faults or changed:
        kept = ReadingBatch()
        kept.CopyFrom(message)
        for index in sorted({f.index for f in faults}, reverse=True):
            del kept.readings[index]
        value = kept.SerializeToString()
    batch.checked(faults, len(message.readings) - len({f.index for f in faults}), changed, value)
    return batch


def fault(index: int, reason: str = "VALUE_NOT_FINITE") -> ReadingFault:
    """A check failure of reading ``index``."""
    return ReadingFault(index=index, reason=reason, message=f"reading {index} failed")


def headers_dict(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    """Record headers as a dict of decoded strings."""
    return {name: value.decode() for name, value in headers}


class KafkaPipeline:
    """RecordBuilder → DurableSink → AsyncProducer against a real broker, with its own metrics
    (and a spool when given its config).

    ``async with`` starts it sink-first and shuts it down (flushing) on exit.
    """

    def __init__(
        self,
        config: KafkaConfig,
        allow_dlq: Callable[[str], bool] = lambda _: True,
        spool: SpoolConfig | None = None,
    ):
        self.config = config
        self.metrics = Metrics(CollectorRegistry())
        self.sink = DurableSink(config, self.metrics, spool)
        self.producer = self.sink.producer
        self.builder = RecordBuilder(config, allow_dlq, self.sink)

    async def __aenter__(self) -> KafkaPipeline:
        await self.sink.start()
        await self.builder.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.builder.shutdown()
        await self.sink.shutdown()

    async def send(self, batch: Batch) -> Batch:
        """Hand ``batch`` to the builder; returns it once the sink has taken its records."""
        await self.builder.consume(batch)
        return batch

    def sample(self, name: str, **labels: str) -> float | None:
        """The current value of metric sample ``name`` with ``labels``."""
        registry = self.metrics.registry
        assert registry is not None
        return registry.get_sample_value(name, labels)
