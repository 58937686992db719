"""``sluice create-topics`` against a real broker: what it creates, and what it refuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from sluice.core.netutil import free_port
from sluice.embedded.broker import TansuBroker
from sluice.runtime.cli import main
from tests.support.usage import usage_error

pytestmark = pytest.mark.integration


def partitions_of(bootstrap: str, *topics: str) -> dict[str, int]:
    listed = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    return {name: len(listed[name].partitions) for name in topics if name in listed}


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[TansuBroker]:
    with TansuBroker() as running:
        monkeypatch.setenv("SLUICE__KAFKA__BOOTSTRAP_SERVERS", running.bootstrap)
        monkeypatch.setenv("SLUICE__KAFKA__TOPIC", "made.readings")
        monkeypatch.setenv("SLUICE__KAFKA__DLQ_TOPIC", "made.dlq")
        yield running


def test_it_creates_both_topics_with_the_partitions_asked_for(
    broker: TansuBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["create-topics", "--partitions", "3", "--replication-factor", "1"]
    argv += ["--topic-config", "retention.ms=3600000"]

    assert main(argv) == 0
    assert main(argv) == 0  # topics that exist are fine

    assert "topics ready: made.readings, made.dlq" in capsys.readouterr().out
    assert partitions_of(broker.bootstrap, "made.readings", "made.dlq") == {
        "made.readings": 3,
        "made.dlq": 3,
    }


def test_minus_one_leaves_the_counts_to_the_broker(broker: TansuBroker) -> None:
    assert main(["create-topics", "--partitions", "-1", "--replication-factor", "-1"]) == 0

    assert set(partitions_of(broker.bootstrap, "made.readings", "made.dlq")) == {
        "made.readings",
        "made.dlq",
    }


def test_no_broker_is_an_error_naming_where_it_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("SLUICE__KAFKA__BOOTSTRAP_SERVERS", nowhere)

    assert main(["create-topics", "--replication-factor", "1"]) == 1

    err = capsys.readouterr().err
    assert f"cannot create topics: no answer from {nowhere} within 10s" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--partitions", "0"], "--partitions"),
        (["--partitions", "-3"], "--partitions"),
        (["--partitions", "100001"], "--partitions"),
        (["--partitions", "1" + "0" * 30], "--partitions"),
        (["--replication-factor", "0"], "--replication-factor"),
        (["--replication-factor", "32768"], "--replication-factor"),
        (["--replication-factor", "three"], "--replication-factor"),
        (["--topic-config", "retention.ms"], "--topic-config"),
        (["--topic-config", "=604800000"], "--topic-config"),
    ],
)
def test_a_bad_argument_is_a_usage_error_naming_it(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # --partitions -3 used to end in a traceback from librdkafka's admin client.
    err = usage_error(main, ["create-topics", *argv], capsys)

    assert f"argument {named}" in err
