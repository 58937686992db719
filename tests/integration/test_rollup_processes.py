"""``sluice rollup`` processes on PostgreSQL: killed mid-stream, and scaled out by partitions."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.core.batch import Record
from sluice.core.netutil import free_port
from sluice.delivery.kafka.topics import create_topics
from sluice.downstream.rollup.postgres import PostgresRollupStore
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
from tests.support.services import SluiceCommand, http_get

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

WAIT_S = 45.0
DEVICES = tuple(f"dev-{n}" for n in range(12))


@pytest.fixture
def topic(tansu: TansuBroker) -> str:
    name = f"rollup-{uuid.uuid4().hex[:8]}"
    create_topics(tansu.bootstrap, [name], partitions=4)
    return name


@pytest.fixture
def reader(postgres_dsn: str) -> Iterator[PostgresRollupStore]:
    store = PostgresRollupStore(postgres_dsn, max_size=2).open()
    try:
        yield store
    finally:
        store.close()


def rollup_process(
    tansu: TansuBroker, topic: str, dsn: str, tmp_path: Path, group: str, name: str
) -> SluiceCommand:
    ops = f"127.0.0.1:{free_port()}"
    config: dict[str, Any] = {
        "kafka": {"bootstrap_servers": tansu.bootstrap, "topic": topic},
        "rollup": {
            "group_id": group,
            "ops_listen": ops,
            "client": TANSU_CONSUMER,
            "poll_timeout_s": 0.1,
            "batch_max_records": 5,
            "store": {"backend": "postgres", "postgres_dsn": dsn},
        },
        "logging": {"format": "text"},
    }
    return SluiceCommand("rollup", config, tmp_path, f"http://{ops}/readyz", name)


def device_batches(count: int, seed: int) -> list[tuple[str, list[Reading]]]:
    readings = random_readings(count * 10, seed=seed, devices=DEVICES)
    return [("acme", readings[i : i + 10]) for i in range(0, len(readings), 10)]


def records_of(pairs: list[tuple[str, list[Reading]]], first_seq: int, topic: str) -> list[Record]:
    """Records keyed by device, so they spread over every partition."""
    return [
        record
        for index, (_, readings) in enumerate(pairs)
        for record in kafka_records(readings, seq=first_seq + index, key="device", topic=topic)
    ]


def counted(store: PostgresRollupStore) -> int:
    return sum(figures.count for figures in stored(store, ["acme"]).values())


def wait_until_counted(store: PostgresRollupStore, readings: int) -> None:
    deadline = time.monotonic() + WAIT_S
    # One read per round: reading twice raced the roll-up reaching the total in between.
    while (so_far := counted(store)) != readings:
        assert so_far < readings, "more readings counted than were sent"
        assert time.monotonic() < deadline, f"{so_far} of {readings} readings counted"
        time.sleep(0.1)


def applied(process: SluiceCommand) -> float:
    ops = process.ready_url.removesuffix("/readyz")
    status, body = http_get(f"{ops}/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith('sluice_rollup_records_total{outcome="applied"}'):
            return float(line.split()[-1])
    return 0.0


def test_a_rollup_killed_mid_stream_and_restarted_counts_every_reading_once(
    tansu: TansuBroker, topic: str, postgres_dsn: str, reader: PostgresRollupStore, tmp_path: Path
) -> None:
    pairs = device_batches(80, seed=71)
    records = records_of(pairs, 1, topic)
    produce(tansu.bootstrap, records[:40])
    group = f"g-{uuid.uuid4().hex}"

    def produce_the_rest() -> None:
        for start in range(40, len(records), 20):
            produce(tansu.bootstrap, records[start : start + 20])
            time.sleep(0.05)

    with rollup_process(tansu, topic, postgres_dsn, tmp_path, group, "first") as first:
        producer = threading.Thread(target=produce_the_rest)
        producer.start()
        deadline = time.monotonic() + WAIT_S
        while counted(reader) == 0:
            assert time.monotonic() < deadline, first.logs()
            time.sleep(0.02)
        first.kill()  # SIGKILL, wherever it is: mid-transaction, between the two commits, ...
        producer.join(WAIT_S)

    total = sum(len(readings) for _, readings in pairs)
    assert counted(reader) < total, "the kill came too late to be mid-stream"
    with rollup_process(tansu, topic, postgres_dsn, tmp_path, group, "second") as second:
        wait_until_counted(reader, total)
        assert second.stop() == 0, second.logs()
    assert_same_figures(stored(reader, ["acme"]), reference(pairs))


def test_two_rollups_in_one_group_share_the_partitions(
    tansu: TansuBroker, topic: str, postgres_dsn: str, reader: PostgresRollupStore, tmp_path: Path
) -> None:
    group = f"g-{uuid.uuid4().hex}"
    sent: list[tuple[str, list[Reading]]] = []
    with (
        rollup_process(tansu, topic, postgres_dsn, tmp_path, group, "a") as a,
        rollup_process(tansu, topic, postgres_dsn, tmp_path, group, "b") as b,
    ):
        deadline = time.monotonic() + WAIT_S
        while not (applied(a) > 0 and applied(b) > 0):
            assert time.monotonic() < deadline, "one process never got a partition"
            pairs = device_batches(8, seed=len(sent))
            produce(tansu.bootstrap, records_of(pairs, len(sent) + 1, topic))
            sent += pairs
            time.sleep(0.3)
        wait_until_counted(reader, sum(len(readings) for _, readings in sent))
        assert a.stop() == 0, a.logs()
        assert b.stop() == 0, b.logs()
    assert_same_figures(stored(reader, ["acme"]), reference(sent))
