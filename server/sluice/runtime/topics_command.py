"""``sluice create-topics``: its arguments, checked, and the command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

from sluice.core.config.settings import Settings

MAX_PARTITIONS: Final = 100_000
"""The most partitions librdkafka's admin client asks for (a larger count is a ValueError)."""
MAX_REPLICATION_FACTOR: Final = 32_767
"""Kafka's replication factor is a 16-bit count."""


def add_topics_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``create-topics`` to the ``sluice`` command's subparsers."""
    topics = commands.add_parser(
        "create-topics",
        help="create kafka.topic and kafka.dlq_topic with the config's Kafka settings",
    )
    topics.add_argument("--config", type=Path, help="YAML config file")
    topics.add_argument(
        "--partitions", type=partition_count, default=12, help="1 to 100000; -1: the broker's"
    )
    topics.add_argument(
        "--replication-factor",
        type=replication_factor,
        default=3,
        help="1 to 32767; -1: the broker's",
    )
    topics.add_argument(
        "--topic-config",
        action="append",
        type=topic_setting,
        default=[],
        metavar="KEY=VALUE",
        help="a topic setting such as retention.ms=604800000; repeatable",
    )


def partition_count(text: str) -> int:
    """A topic's partitions, as an argparse ``type``: what librdkafka's admin client takes."""
    return _count_or_broker_default(text, MAX_PARTITIONS, "partitions")


def replication_factor(text: str) -> int:
    """A topic's replication factor, as an argparse ``type``."""
    return _count_or_broker_default(text, MAX_REPLICATION_FACTOR, "replicas")


def _count_or_broker_default(text: str, most: int, what: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count != -1 and not 1 <= count <= most:
        raise argparse.ArgumentTypeError(
            f"{text!r}: need 1 to {most} {what}, or -1 for the broker's default"
        )
    return count


def topic_setting(text: str) -> tuple[str, str]:
    """A ``KEY=VALUE`` topic setting, as an argparse ``type``."""
    key, equals, value = text.partition("=")
    if not key.strip() or not equals:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE, such as retention.ms=604800000"
        )
    return key.strip(), value


def create_topics_command(args: argparse.Namespace, settings: Settings) -> int:
    """Create the readings and dead-letter topics if they are missing; the exit code."""
    from sluice.delivery.kafka.topics import ADMIN_TIMEOUT_S, TopicsError, create_topics

    kafka = settings.kafka
    try:
        create_topics(
            kafka.bootstrap_servers,
            [kafka.topic, kafka.dlq_topic],
            args.partitions,
            dict(args.topic_config),
            replication_factor=args.replication_factor,
            client=kafka.client,
        )
    except TopicsError as error:
        print(f"sluice: cannot create topics: {error}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(
            f"sluice: cannot create topics: no answer from {kafka.bootstrap_servers} "
            f"within {ADMIN_TIMEOUT_S:g}s",
            file=sys.stderr,
        )
        return 1
    print(f"topics ready: {kafka.topic}, {kafka.dlq_topic}")
    return 0
