"""The replayer: spooled records go to Kafka in order, segments go once delivered, and a
failure rewinds to the first record not delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from spool_helpers import fresh_metrics, record, sample, spool_config, values

from sluice.core import reasons
from sluice.core.batch import Record
from sluice.core.errors import DeliveryFailed, SluiceError, Unavailable
from sluice.delivery.replayer import Replayer
from sluice.delivery.spool.segments import segment_ids
from sluice.delivery.spool.spool import Spool
from sluice.ops.metrics import Metrics

UNAVAILABLE = Unavailable(reasons.KAFKA_UNAVAILABLE, "gone", 1000)
TOO_LARGE = DeliveryFailed(reasons.DELIVERY_FAILED, "too large")


class ScriptedKafka:
    """Takes records like the producer; ``verdict(record)`` settles each one at once (None:
    delivered), or leaves it pending when it returns ``...``."""

    def __init__(self, verdict: Callable[[Record], SluiceError | None] = lambda _: None) -> None:
        self.produced: list[Record] = []
        self.verdict = verdict

    async def produce(self, record: Record) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.produced.append(record)
        error = self.verdict(record)
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
        return future


class Rig:
    def __init__(self, spool: Spool, kafka: ScriptedKafka, metrics: Metrics) -> None:
        self.spool = spool
        self.kafka = kafka
        self.metrics = metrics
        self.allowed = True
        self.drained = asyncio.Event()
        self.replayer = Replayer(
            spool, kafka.produce, metrics, lambda: self.allowed, self.drained.set, lambda: 0.0
        )


async def rig(tmp_path: Path, kafka: ScriptedKafka, spooled: int) -> Rig:
    metrics = fresh_metrics()
    spool = Spool(spool_config(tmp_path), metrics, 1000)
    await spool.start()
    for n in range(spooled):
        spool.append([record(n, readings=2)])
    return Rig(spool, kafka, metrics)


async def test_everything_is_replayed_in_order_then_the_spool_is_cleared(tmp_path: Path) -> None:
    kafka = ScriptedKafka()
    r = await rig(tmp_path, kafka, 300)
    assert len(segment_ids(tmp_path / "worker-0")) > 2

    r.replayer.start()
    await asyncio.wait_for(r.drained.wait(), 10)
    await r.replayer.stop()

    assert values(kafka.produced) == values([record(n) for n in range(300)])
    assert r.spool.empty
    assert segment_ids(tmp_path / "worker-0") == []
    assert sample(r.metrics, "sluice_spool_replayed_readings_total") == 600
    await r.spool.close()


async def test_nothing_is_replayed_while_not_allowed(tmp_path: Path) -> None:
    kafka = ScriptedKafka()
    r = await rig(tmp_path, kafka, 10)
    r.allowed = False

    r.replayer.start()
    await asyncio.sleep(0.3)
    assert kafka.produced == []
    r.allowed = True
    r.replayer.wake()
    await asyncio.wait_for(r.drained.wait(), 10)
    await r.replayer.stop()

    assert values(kafka.produced) == values([record(n) for n in range(10)])
    await r.spool.close()


async def test_a_failure_rewinds_to_the_first_record_not_delivered(tmp_path: Path) -> None:
    failures = {5: 2}  # record 5 fails twice, then goes through

    def verdict(sent: Record) -> SluiceError | None:
        n = int(sent.value.split(b":")[0].removeprefix(b"value-"))
        if failures.get(n, 0):
            failures[n] -= 1
            return UNAVAILABLE
        return None

    kafka = ScriptedKafka(verdict)
    r = await rig(tmp_path, kafka, 20)
    r.replayer.start()
    await asyncio.wait_for(r.drained.wait(), 10)
    await r.replayer.stop()

    produced = values(kafka.produced)
    assert produced[:6] == values([record(n) for n in range(6)])
    assert sorted(set(produced)) == sorted(values([record(n) for n in range(20)]))
    assert produced[-15:] == values([record(n) for n in range(5, 20)])  # in order from 5
    assert produced.count(record(5).value) == 3
    await r.spool.close()


async def test_a_dead_letter_refused_for_good_is_dropped_and_a_reading_is_not(
    tmp_path: Path,
) -> None:
    metrics = fresh_metrics()
    spool = Spool(spool_config(tmp_path), metrics, 1000)
    await spool.start()
    dead_letter = Record("dlq", b"gw-1", b"rejected", [], 0)
    spool.append([record(0), dead_letter, record(1)])
    refusals = {b"rejected": 5}

    def verdict(sent: Record) -> SluiceError | None:
        return TOO_LARGE if refusals.get(sent.value, 0) else None

    kafka = ScriptedKafka(verdict)
    r = Rig(spool, kafka, metrics)
    r.replayer.start()
    await asyncio.wait_for(r.drained.wait(), 10)
    await r.replayer.stop()

    assert values(kafka.produced) == [record(0).value, b"rejected", record(1).value]
    assert sample(metrics, "sluice_spool_replayed_readings_total") == 2
    await spool.close()


async def test_records_spooled_during_the_replay_follow_in_order(tmp_path: Path) -> None:
    kafka = ScriptedKafka()
    r = await rig(tmp_path, kafka, 50)
    r.replayer.start()
    for n in range(50, 80):
        r.spool.append([record(n)])
        r.replayer.wake()
        await asyncio.sleep(0)
    await asyncio.wait_for(r.drained.wait(), 10)
    await r.replayer.stop()

    assert values(kafka.produced) == values([record(n) for n in range(80)])
    await r.spool.close()
