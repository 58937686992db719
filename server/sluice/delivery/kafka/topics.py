"""Creating the topics Sluice produces to (``sluice create-topics``, the chart's topics Job)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

ADMIN_TIMEOUT_S: Final = 10.0


class TopicsError(RuntimeError):
    """The cluster refused to create a topic."""


def create_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int = 4,
    config: dict[str, str] | None = None,
    *,
    replication_factor: int = 1,
    client: Mapping[str, str | int | float | bool] | None = None,
) -> None:
    """Create ``topics`` on the cluster at ``bootstrap``; topics that already exist are fine.

    ``config`` holds topic settings (``retention.ms``...); ``client`` holds librdkafka
    properties for the admin connection (TLS, SASL), as ``kafka.client`` does for producing.
    """
    admin = AdminClient({**(client or {}), "bootstrap.servers": bootstrap})
    wanted = [
        NewTopic(
            topic,
            num_partitions=partitions,
            replication_factor=replication_factor,
            config=config or {},
        )
        for topic in topics
    ]
    if not wanted:
        return
    futures = admin.create_topics(wanted, operation_timeout=ADMIN_TIMEOUT_S)
    for topic, future in futures.items():
        try:
            future.result(timeout=ADMIN_TIMEOUT_S)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicsError(f"could not create topic {topic}: {exc.args[0].str()}") from exc
