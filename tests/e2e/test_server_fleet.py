"""A fleet of gateways starting at once, each on a connection of its own, against a real
``sluice serve`` and broker: every stream is served, none refused before Sluice sees it.

grpc refuses calls that arrive faster than the application picks them up once more than
1,000 wait (RESOURCE_EXHAUSTED "Too many pending requests for this server"; grpc.aio's client
then reports INTERNAL for the write under way). A fleet reconnecting after a restart or a
failover arrives exactly like that; the worker lets up to ``server.max_streams`` wait."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from benchmarks.loadgen import LoadConfig, run_load
from sluice.embedded.broker import TansuBroker
from tests.support.servers import SluiceServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

GATEWAYS = LoadConfig(
    target="",
    batch_size=10,
    processes=4,
    streams=750,  # 3,000 streams in all
    window=4,
    rate=3000 * 10 / 2.0,  # each sends 10 readings every 2 s
    duration_s=3.0,
    warmup_s=2.0,
    cpus=(1,),  # the gateways share one CPU, so they start in a burst the server trails
    connect_timeout_s=60.0,
)


def test_three_thousand_gateways_starting_at_once_are_all_served(
    tansu: TansuBroker, tmp_path: Path
) -> None:
    config: dict[str, Any] = {"kafka": {"bootstrap_servers": tansu.bootstrap}}
    with SluiceServer(config, tmp_path) as server:
        report = run_load(dataclasses.replace(GATEWAYS, target=server.target))

    assert report.errors == []
    assert report.acked_batches == report.sent_batches > 0
