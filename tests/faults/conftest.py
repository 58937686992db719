"""Fixtures of the fault-injection suite: a fresh broker per scenario, a server config with a
quick circuit breaker, and the JSON summary every scenario adds its verdict to."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_gateways import Gateways
from faults_verdict import Verdict, judge

from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker

SUMMARY_ENV = "SLUICE_FAULTS_SUMMARY"
DEFAULT_SUMMARY = Path(__file__).parents[2] / "build" / "faults-summary.json"
BREAKER = {"stall_timeout_ms": 1000, "backoff_initial_ms": 200, "backoff_max_ms": 1000}


class Summary:
    """Collects each scenario's verdict; written as JSON when the session ends."""

    def __init__(self) -> None:
        self.verdicts: list[Verdict] = []

    def judge(
        self,
        scenario: str,
        broker: TansuBroker,
        topic: str,
        gateways: Gateways,
        totals: dict[str, int],
        destroyed: Collection[str] = (),
        missing_records: int = 0,
    ) -> Verdict:
        """Judge what ``topic`` holds against what ``gateways`` had acknowledged (every
        batch, one record each, but ``missing_records`` the test destroyed)."""
        assert totals["readings_accepted"] == len(gateways.rids()), "not all acknowledged"
        min_records = totals["batches_acked"] - missing_records
        verdict = judge(scenario, broker.bootstrap, topic, gateways.rids(), min_records, destroyed)
        self.verdicts.append(verdict)
        return verdict

    def write(self, path: Path) -> None:
        if not self.verdicts:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        scenarios = [v.as_dict() for v in self.verdicts]
        totals = {
            name: sum(s[name] for s in scenarios)
            for name in (
                "readings_acknowledged",
                "duplicate_readings",
                "lost",
                "lost_to_injected_corruption",
            )
        }
        body = {"scenarios": scenarios, "totals": {"scenarios": len(scenarios), **totals}}
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def summary() -> Iterator[Summary]:
    collected = Summary()
    yield collected
    collected.write(Path(os.environ.get(SUMMARY_ENV, DEFAULT_SUMMARY)))


@pytest.fixture
def topic() -> str:
    return f"faults-{uuid.uuid4().hex[:8]}"


def with_topics(broker: TansuBroker, topic: str) -> TansuBroker:
    create_topics(broker.bootstrap, [topic, topic + "-dlq"], partitions=4)
    return broker


@pytest.fixture
def broker(topic: str) -> Iterator[TansuBroker]:
    """A fresh Tansu broker for this scenario, with its topics."""
    with TansuBroker() as started:
        yield with_topics(started, topic)


def server_config(bootstrap: str, topic: str, spool_dir: Path, **sections: Any) -> dict[str, Any]:
    """A server producing to ``topic``, with a quick breaker and its spool in ``spool_dir``."""
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "topic": topic,
            "dlq_topic": topic + "-dlq",
            "delivery_timeout_ms": 8000,
            "breaker": BREAKER,
        },
        "spool": {"dir": str(spool_dir), "segment_bytes": 256 * 1024},
        "server": {"drain_timeout_s": 15},
    }
    for name, section in sections.items():
        config[name] = {**config.get(name, {}), **section}
    return config
