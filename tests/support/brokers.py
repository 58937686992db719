"""Real Kafka-protocol brokers for the tests, and a helper that reads a topic back.

- ``tansu``: a fresh Tansu broker per test module (its memory grows with the data stored),
  with the default readings and dead-letter topics created.
- ``noida``: noida-db's Kafka service, which (unlike Tansu) refuses records over ~1 MB.

Import the fixtures into a ``conftest.py`` to use them. Every process is stopped by its PID.
"""

from __future__ import annotations

import importlib.resources
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from sluice.core.netutil import free_port
from sluice.core.record_contract import DEFAULT_DLQ_TOPIC, DEFAULT_TOPIC
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker, accepts_tcp
from tests.support.processes import ManagedProcess

NOIDA_START_TIMEOUT_S = 60.0
NOIDA_SESSION_TIMEOUT_MS = 6000
"""noida-db refuses consumer group sessions shorter than this."""


class NoidaKafka:
    """noida-db's Kafka service on 127.0.0.1, in the foreground, its data under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        # The native binary, not its Python wrapper: killing the wrapper would orphan it.
        binary = Path(str(importlib.resources.files("noida_db").joinpath("noida-db")))
        command = [str(binary), "start", "--only", "kafka", "--kafka-port", str(self.port)]
        command += ["--data-dir", str(data_dir / "data")]
        self._process = ManagedProcess(command, data_dir / "noida-db.log")

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> NoidaKafka:
        """Start the service and wait until it accepts TCP connections."""
        self._process.start(lambda: accepts_tcp(self.port), NOIDA_START_TIMEOUT_S)
        return self

    def stop(self) -> None:
        """Terminate the process by PID, then kill it if it lingers. Idempotent."""
        self._process.stop()


@pytest.fixture(scope="module")
def tansu() -> Iterator[TansuBroker]:
    """A fresh Tansu broker for this test module, with the default topics created."""
    with TansuBroker() as broker:
        create_topics(broker.bootstrap, [DEFAULT_TOPIC, DEFAULT_DLQ_TOPIC])
        yield broker


@pytest.fixture(scope="module")
def noida(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NoidaKafka]:
    """noida-db's Kafka service for this test module."""
    service = NoidaKafka(tmp_path_factory.mktemp("noida"))
    try:
        yield service.start()
    finally:
        service.stop()


def consume_records(
    bootstrap: str,
    topic: str,
    min_records: int = 1,
    timeout_s: float = 30.0,
    settle_s: float = 0.5,
) -> list[Message]:
    """Every record of ``topic``, read from the beginning of each partition.

    Reads until at least ``min_records`` arrived and then nothing more for ``settle_s`` (so
    duplicates show up too). Fails if ``min_records`` did not arrive within ``timeout_s``.
    Partitions are assigned directly (no group join) and offsets never committed; Tansu's
    ListOffsets "latest" is wrong, so the end of a partition is never asked for.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 10,
            "session.timeout.ms": NOIDA_SESSION_TIMEOUT_MS,
        }
    )
    records: list[Message] = []
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
        deadline = time.monotonic() + timeout_s
        last_arrival = time.monotonic()
        while time.monotonic() < deadline:
            if len(records) >= min_records and time.monotonic() - last_arrival >= settle_s:
                return records
            message = consumer.poll(0.05)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                raise AssertionError(f"consuming {topic}: {error}")
            records.append(message)
            last_arrival = time.monotonic()
    finally:
        consumer.close()
    raise AssertionError(f"{topic}: {len(records)} of {min_records} records within {timeout_s}s")


def headers_of(record: Message) -> dict[str, str]:
    """The headers of a consumed record, decoded as UTF-8."""
    return {key: value.decode() for key, value in record.headers() or [] if value is not None}


__all__ = [
    "NoidaKafka",
    "consume_records",
    "headers_of",
    "noida",
    "tansu",
]
