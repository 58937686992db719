"""Fault scenarios in the network between Sluice and Kafka, through a proxy the test controls
(Tansu advertises the proxy's port): every connection cut at random points, and a slow
broker. Every acknowledged reading must reach Kafka."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Summary, server_config, with_topics
from faults_gateways import Gateways
from faults_proxy import FaultyProxy
from faults_verdict import metric, wait_until

from sluice.core.netutil import free_port
from sluice.embedded.broker import TansuBroker
from tests.support.servers import SluiceServer

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

SEED = 20_261_122
CUTS = 5
QUEUE_MAX_READINGS = 20_000


@pytest.fixture
def proxied(topic: str) -> Iterator[tuple[TansuBroker, FaultyProxy]]:
    """A broker whose every connection goes through a proxy."""
    port = free_port()
    proxy = FaultyProxy(target_port=port)
    with TansuBroker(port=port, advertised_port=proxy.port) as broker:
        proxy.start()
        try:
            yield with_topics(broker, topic), proxy
        finally:
            proxy.stop()


async def test_every_broker_connection_cut_and_restored_at_random_points(
    proxied: tuple[TansuBroker, FaultyProxy], topic: str, tmp_path: Path, summary: Summary
) -> None:
    broker, proxy = proxied
    rng = random.Random(SEED)
    with SluiceServer(server_config(broker.bootstrap, topic, tmp_path / "spool"), tmp_path) as srv:
        gateways = Gateways(srv.target, count=4, per_gateway=12_000, rate=2_000)
        streaming = await gateways.launch()
        outages = []
        for _ in range(CUTS):
            await asyncio.sleep(rng.uniform(0.2, 0.9))
            down_s = rng.uniform(0.1, 1.5)
            proxy.cut()
            await asyncio.sleep(down_s)
            proxy.restore()
            outages.append(round(down_s, 2))
        await streaming
        totals = await gateways.close()
        await wait_until(lambda: metric(srv, "sluice_spool_bytes") == 0, 30, "the replay")
        spooled = metric(srv, "sluice_spooled_readings_total")
        opened = metric(srv, "sluice_breaker_opened_total")

    scenario = "every broker connection cut at random points"
    verdict = summary.judge(scenario, broker, topic, gateways, totals)
    verdict.notes.update(
        seed=SEED, outages_s=outages, breaker_opened=opened, spooled_readings=spooled
    )
    assert verdict.lost == 0
    assert proxy.connections > CUTS  # librdkafka reconnected after every cut


async def test_a_slow_broker_slows_the_gateways_and_memory_stays_bounded(
    proxied: tuple[TansuBroker, FaultyProxy], topic: str, tmp_path: Path, summary: Summary
) -> None:
    broker, proxy = proxied
    config = server_config(
        broker.bootstrap,
        topic,
        tmp_path / "spool",
        server={"queue_max_readings": QUEUE_MAX_READINGS, "backpressure_timeout_s": 1.0},
        kafka={"breaker": {"stall_timeout_ms": 5000}},
    )
    with SluiceServer(config, tmp_path) as srv:
        gateways = Gateways(srv.target, count=4, per_gateway=8_000, rate=4_000, max_inflight=64)
        proxy.slow(delay_s=0.05, bytes_per_s=200_000)
        streaming = await gateways.launch()
        peaks = {"sluice_queue_readings": 0.0, "sluice_spool_bytes": 0.0, "rss_bytes": 0.0}
        window_full = False
        while not streaming.done():
            for name in ("sluice_queue_readings", "sluice_spool_bytes"):
                peaks[name] = max(peaks[name], await asyncio.to_thread(metric, srv, name))
            peaks["rss_bytes"] = max(peaks["rss_bytes"], resident_bytes(srv))
            window_full |= any(
                c.stats.unacknowledged_batches >= gateways.max_inflight for c in gateways.clients
            )
            await asyncio.sleep(0.1)
        told_to_retry = gateways.totals()["unavailable"]
        proxy.slow(0.0, 0.0)
        await streaming
        totals = await gateways.close()
        await wait_until(lambda: metric(srv, "sluice_spool_bytes") == 0, 30, "the replay")

    # Memory stays bounded: the queue never holds more than its cap, whatever Kafka does.
    assert peaks["sluice_queue_readings"] <= QUEUE_MAX_READINGS
    # The gateways were slowed (a window of unacknowledged batches filled, so send() waited)
    # or told to retry (UNAVAILABLE).
    assert window_full or told_to_retry > 0
    scenario = "slow broker (50 ms per chunk, 200 kB/s per direction)"
    verdict = summary.judge(scenario, broker, topic, gateways, totals)
    verdict.notes.update(
        peak_queue_readings=peaks["sluice_queue_readings"],
        peak_spool_bytes=peaks["sluice_spool_bytes"],
        peak_rss_bytes=peaks["rss_bytes"],
        window_full=window_full,
        unavailable_acks=totals["unavailable"],
    )
    assert verdict.lost == 0


def resident_bytes(server: SluiceServer) -> float:
    """The resident memory of the server process (one worker: the process itself)."""
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
    return float(kilobytes) * 1024
