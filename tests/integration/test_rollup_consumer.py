"""The roll-up consumer against a real Tansu broker, on SQLite and on PostgreSQL.

Records are built exactly as the server builds them (both encodings, both keyings) and
produced to a topic of their own; the figures the consumer keeps must equal a reference
computed here, through duplicate resends, restarts and a crash between the store's commit
and the offset commit.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from sluice.core.batch import Record
from sluice.core.config.kafka import KafkaConfig
from sluice.core.config.rollup import RollupConfig
from sluice.delivery.kafka.topics import create_topics
from sluice.downstream.rollup.consumer import RollupConsumer
from sluice.downstream.rollup.decode import DecodedRecord, decode_record
from sluice.downstream.rollup.metrics import RollupMetrics
from sluice.downstream.rollup.postgres import PostgresRollupStore
from sluice.downstream.rollup.sqlite import SqliteRollupStore
from sluice.downstream.rollup.store import Applied, RollupStore, StoreUnavailable
from sluice.embedded.broker import TansuBroker
from sluice.runtime.dev_rollup import TANSU_CONSUMER
from sluice.v1.ingest_pb2 import Reading
from tests.support.rollup import (
    assert_same_figures,
    kafka_records,
    produce,
    random_readings,
    reference,
    stored,
)

pytestmark = pytest.mark.integration

WAIT_S = 30.0


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RollupStore]:
    if request.param == "sqlite":
        opened: RollupStore = SqliteRollupStore(tmp_path / "rollup.db").open()
    else:
        opened = PostgresRollupStore(request.getfixturevalue("postgres_dsn"), max_size=4).open()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def topic(tansu: TansuBroker) -> str:
    name = f"rollup-{uuid.uuid4().hex[:8]}"
    create_topics(tansu.bootstrap, [name], partitions=4)
    return name


class RunningConsumer:
    """A ``RollupConsumer`` on a thread, with its own metrics; ``stop()`` joins it."""

    def __init__(self, bootstrap: str, topic: str, store: RollupStore, group: str) -> None:
        self.registry = CollectorRegistry()
        config = RollupConfig(
            group_id=group, client=TANSU_CONSUMER, poll_timeout_s=0.1, batch_max_records=7
        )
        kafka = KafkaConfig(bootstrap_servers=bootstrap, topic=topic)
        consumer = RollupConsumer(config, kafka, store, RollupMetrics(self.registry))
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(consumer,), daemon=True)
        self._thread.start()

    def _run(self, consumer: RollupConsumer) -> None:
        try:
            consumer.run(self._stop)
        except BaseException as exc:
            self.errors.append(exc)

    def lag(self, topic: str, partitions: int) -> dict[int, float]:
        """The lag shown for each partition of ``topic`` that has a series."""
        shown = {
            partition: self.registry.get_sample_value(
                "sluice_rollup_consumer_lag_records", {"topic": topic, "partition": str(partition)}
            )
            for partition in range(partitions)
        }
        return {partition: value for partition, value in shown.items() if value is not None}

    def store_errors(self) -> float:
        return self.registry.get_sample_value("sluice_rollup_store_errors_total") or 0.0

    def count(self, outcome: str) -> float:
        value = self.registry.get_sample_value("sluice_rollup_records_total", {"outcome": outcome})
        return value or 0.0

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not condition():
            assert not self.errors, self.errors
            assert time.monotonic() < deadline, f"not within {WAIT_S}s: {what}"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "the consumer did not stop"
        assert not self.errors, self.errors


def batches(count: int, seed: int, tenant: str = "acme") -> list[tuple[str, list[Reading]]]:
    readings = random_readings(count * 20, seed=seed)
    return [(tenant, readings[i : i + 20]) for i in range(0, len(readings), 20)]


def records_of(pairs: list[tuple[str, list[Reading]]], first_seq: int, topic: str) -> list[Record]:
    """Server records of each batch, alternating encodings and keyings."""
    out: list[Record] = []
    for index, (tenant, readings) in enumerate(pairs):
        out += kafka_records(
            readings,
            seq=first_seq + index,
            session="s",
            tenant=tenant,
            encoding="json" if index % 2 else "protobuf",
            key="device" if index % 3 == 0 else "source",
            topic=topic,
        )
    return out


def test_both_encodings_roll_up_and_a_resend_changes_nothing(
    tansu: TansuBroker, topic: str, store: RollupStore
) -> None:
    pairs = batches(12, seed=31) + batches(4, seed=32, tenant="other")
    records = records_of(pairs, 1, topic)
    produce(tansu.bootstrap, records)
    consumer = RunningConsumer(tansu.bootstrap, topic, store, f"g-{uuid.uuid4().hex}")
    try:
        consumer.wait_for(lambda: consumer.count("applied") == len(records), "every record")
        expected = reference(pairs)
        assert_same_figures(stored(store, ["acme", "other"]), expected)

        produce(tansu.bootstrap, records[: len(records) // 2])  # a resend, same ids
        consumer.wait_for(
            lambda: consumer.count("duplicate") == len(records) // 2, "the resent records"
        )
        assert consumer.count("applied") == len(records)
        assert_same_figures(stored(store, ["acme", "other"]), expected)
    finally:
        consumer.stop()


def test_a_restarted_consumer_resumes_from_its_committed_offsets(
    tansu: TansuBroker, topic: str, store: RollupStore
) -> None:
    group = f"g-{uuid.uuid4().hex}"
    early, late = batches(10, seed=41), batches(10, seed=42)
    early_records, late_records = records_of(early, 1, topic), records_of(late, 100, topic)
    produce(tansu.bootstrap, early_records)
    first = RunningConsumer(tansu.bootstrap, topic, store, group)
    try:
        first.wait_for(lambda: first.count("applied") == len(early_records), "the first half")
    finally:
        first.stop()

    produce(tansu.bootstrap, late_records + early_records[:3])
    second = RunningConsumer(tansu.bootstrap, topic, store, group)
    try:
        second.wait_for(
            lambda: second.count("applied") + second.count("duplicate") == len(late_records) + 3,
            "the second half and the resend",
        )
        # Only what came after the first consumer's commits was read again.
        assert (second.count("applied"), second.count("duplicate")) == (len(late_records), 3)
    finally:
        second.stop()
    assert_same_figures(stored(store, ["acme"]), reference(early + late))


def test_a_crash_between_the_store_commit_and_the_offset_commit_counts_nothing_twice(
    tansu: TansuBroker, topic: str, store: RollupStore
) -> None:
    pairs = batches(10, seed=51)
    records = records_of(pairs, 1, topic)
    produce(tansu.bootstrap, records)
    # What a consumer that died right after its store transaction leaves behind: the
    # records counted, and no offsets committed for its group.
    store.apply([decode_record(r.headers, r.value) for r in records[:6]])

    consumer = RunningConsumer(tansu.bootstrap, topic, store, f"g-{uuid.uuid4().hex}")
    try:
        consumer.wait_for(
            lambda: consumer.count("applied") + consumer.count("duplicate") == len(records),
            "every record",
        )
        assert consumer.count("duplicate") == 6
    finally:
        consumer.stop()
    assert_same_figures(stored(store, ["acme"]), reference(pairs))


def test_an_undecodable_record_is_skipped_and_the_rest_counted(
    tansu: TansuBroker, topic: str, store: RollupStore
) -> None:
    pairs = batches(3, seed=61)
    records = records_of(pairs, 1, topic)
    junk = Record(topic, b"gw-1", b"\xff\xff", [("ce_source", b"x"), ("ce_id", b"y")], 0)
    produce(tansu.bootstrap, [junk, *records])

    consumer = RunningConsumer(tansu.bootstrap, topic, store, f"g-{uuid.uuid4().hex}")
    try:
        consumer.wait_for(lambda: consumer.count("applied") == len(records), "every record")
        assert consumer.count("undecodable") == 1
    finally:
        consumer.stop()
    assert_same_figures(stored(store, ["acme"]), reference(pairs))


class AwayStore(SqliteRollupStore):
    """A SQLite store whose transactions fail until ``back`` is set: a database that is away."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.back = threading.Event()

    def apply(self, records: Sequence[DecodedRecord], now_s: int | None = None) -> Applied:
        if not self.back.is_set():
            raise StoreUnavailable("the test's database is away")
        return super().apply(records, now_s)


@pytest.fixture
def away_store(tmp_path: Path) -> Iterator[AwayStore]:
    store = AwayStore(tmp_path / "rollup.db")
    store.open()
    try:
        yield store
    finally:
        store.close()


def test_the_lag_of_each_partition_grows_while_the_store_is_away_and_falls_to_zero(
    tansu: TansuBroker, topic: str, away_store: AwayStore
) -> None:
    store = away_store
    pairs = batches(12, seed=81)
    records = records_of(pairs, 1, topic)
    produce(tansu.bootstrap, records)
    consumer = RunningConsumer(tansu.bootstrap, topic, store, f"g-{uuid.uuid4().hex}")
    try:
        # Nothing can be applied, so nothing is committed: every record is lag.
        consumer.wait_for(
            lambda: sum(consumer.lag(topic, 4).values()) == len(records), "the whole topic as lag"
        )
        assert consumer.store_errors() > 0
        assert consumer.count("applied") == 0

        store.back.set()
        consumer.wait_for(lambda: consumer.count("applied") == len(records), "every record")
        consumer.wait_for(lambda: sum(consumer.lag(topic, 4).values()) == 0, "no lag left")
        assert set(consumer.lag(topic, 4)) == {0, 1, 2, 3}, "a series per partition held"
    finally:
        consumer.stop()
    assert consumer.lag(topic, 4) == {}, "a consumer that left its group shows no lag"
    assert_same_figures(stored(store, ["acme"]), reference(pairs))
