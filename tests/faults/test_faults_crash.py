"""Fault scenarios in Sluice itself: ``kill -9`` while the spool holds data, SIGTERM mid-stream,
and two workers killed and restarted as one. The gateways resend what was not acknowledged;
every acknowledged reading must reach Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Summary, server_config
from faults_gateways import Gateways
from faults_verdict import metric, wait_until

from sluice.embedded.broker import TansuBroker
from tests.support.servers import SluiceServer

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


def segments(spool_dir: Path) -> dict[str, int]:
    """Segment files per worker directory."""
    return {d.name: len(list(d.glob("*.seg"))) for d in sorted(spool_dir.glob("worker-*"))}


@contextlib.contextmanager
def two_lives(
    config: dict[str, Any], workdir: Path, workers: int = 1, then: int = 1
) -> Iterator[tuple[SluiceServer, SluiceServer]]:
    """A started server, and the one that restarts it on the same ports (not started);
    both are stopped at the end, whatever happens."""
    first = SluiceServer(config, workdir, workers).start()
    second = SluiceServer(config, workdir, then, ports=(first.grpc_port, first.ops_port))
    try:
        yield first, second
    finally:
        first.kill()
        second.stop()


async def test_kill_9_while_the_spool_holds_data(
    broker: TansuBroker, topic: str, tmp_path: Path, summary: Summary
) -> None:
    config = server_config(broker.bootstrap, topic, tmp_path / "spool")
    with two_lives(config, tmp_path) as (first, second):
        gateways = Gateways(first.target, count=4, per_gateway=10_000, rate=2_500)
        streaming = await gateways.launch()
        await asyncio.sleep(0.5)
        broker.pause()
        try:
            await wait_until(
                lambda: metric(first, "sluice_spool_bytes") > 200_000, 20, "a spool with data"
            )
            spooled = metric(first, "sluice_spooled_readings_total")
            first.kill()
        finally:
            broker.resume()
        await asyncio.to_thread(second.start)
        await streaming
        totals = await gateways.close()
        await wait_until(lambda: metric(second, "sluice_spool_bytes") == 0, 30, "the replay")
        replayed = metric(second, "sluice_spool_replayed_readings_total")

    scenario = "kill -9 while the spool holds data, then restart"
    verdict = summary.judge(scenario, broker, topic, gateways, totals)
    verdict.notes.update(
        spooled_before_kill=spooled, replayed_after_restart=replayed, resends=totals["resends"]
    )
    assert verdict.lost == 0
    assert replayed > 0


async def test_sigterm_mid_stream_drains_without_loss_or_duplicates(
    broker: TansuBroker, topic: str, tmp_path: Path, summary: Summary
) -> None:
    config = server_config(broker.bootstrap, topic, tmp_path / "spool")
    with two_lives(config, tmp_path) as (first, second):
        gateways = Gateways(first.target, count=4, per_gateway=10_000, rate=2_500)
        streaming = await gateways.launch()
        await asyncio.sleep(1.5)
        exit_code = await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.start)
        await streaming
        totals = await gateways.close()

    assert exit_code == 0
    scenario = "SIGTERM mid-stream (drain), then restart"
    verdict = summary.judge(scenario, broker, topic, gateways, totals)
    verdict.notes.update(reconnects=totals["reconnects"], resends=totals["resends"])
    assert (verdict.lost, verdict.duplicate_records) == (0, 0)
    assert totals["reconnects"] >= gateways.count


async def test_two_workers_killed_and_restarted_as_one_orphan_nothing(
    broker: TansuBroker, topic: str, tmp_path: Path, summary: Summary
) -> None:
    spool_dir = tmp_path / "spool"
    config = server_config(broker.bootstrap, topic, spool_dir)
    with two_lives(config, tmp_path, workers=2, then=1) as (first, second):
        # Many connections, so that SO_REUSEPORT gives both workers some.
        gateways = Gateways(first.target, count=12, per_gateway=3_000, rate=800)
        streaming = await gateways.launch()
        await asyncio.sleep(0.5)
        broker.pause()
        try:
            await wait_until(
                lambda: len([n for n in segments(spool_dir).values() if n]) == 2,
                30,
                "both workers' spools to hold data",
            )
            held = segments(spool_dir)
            first.kill()
        finally:
            broker.resume()
        await asyncio.to_thread(second.start)
        await streaming
        totals = await gateways.close()
        await wait_until(lambda: metric(second, "sluice_spool_bytes") == 0, 30, "the replay")
        left = segments(spool_dir)

    assert set(held) == {"worker-0", "worker-1"}
    assert sum(left.values()) == 0  # the one worker adopted and replayed both spools
    scenario = "two workers killed, restarted as one"
    verdict = summary.judge(scenario, broker, topic, gateways, totals)
    verdict.notes.update(segments_before_kill=held)
    assert verdict.lost == 0
