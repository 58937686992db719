"""TansuBroker: the local broker that ``sluice dev`` and the tests start and stop by PID."""

from __future__ import annotations

import os

import pytest
from confluent_kafka.admin import AdminClient

from sluice.core.netutil import free_port
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import BrokerError, TansuBroker, accepts_tcp

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_broker_listens_on_a_free_loopback_port_and_stops_by_pid() -> None:
    with TansuBroker() as broker:
        pid = broker.pid
        assert broker.bootstrap == f"127.0.0.1:{broker.port}"
        assert accepts_tcp(broker.port)
        assert alive(pid)

    assert not accepts_tcp(broker.port)
    assert not alive(pid)
    broker.stop()  # idempotent


def test_a_paused_broker_still_stops() -> None:
    broker = TansuBroker().start()
    pid = broker.pid
    broker.pause()

    broker.stop()

    assert not alive(pid)


def test_a_port_that_is_taken_is_refused() -> None:
    with TansuBroker() as first, pytest.raises(BrokerError, match="already taken"):
        TansuBroker(port=first.port).start()


def test_the_advertised_port_is_what_clients_are_told_to_connect_to() -> None:
    proxy_port = free_port()
    with TansuBroker(advertised_port=proxy_port) as broker:
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{broker.port}"})
        metadata = admin.list_topics(timeout=10)

    assert broker.bootstrap == f"127.0.0.1:{proxy_port}"
    assert [b.port for b in metadata.brokers.values()] == [proxy_port]


def test_creating_topics_twice_is_fine_and_gives_the_partitions_asked_for() -> None:
    with TansuBroker() as broker:
        create_topics(broker.bootstrap, ["alpha", "beta"], partitions=3)
        create_topics(broker.bootstrap, ["alpha", "gamma"], partitions=2)
        topics = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)

    partitions = {name: len(topics.topics[name].partitions) for name in ("alpha", "beta", "gamma")}
    assert partitions == {"alpha": 3, "beta": 3, "gamma": 2}
