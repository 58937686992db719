"""Fault scenarios at the broker: frozen past the breaker's threshold, and frozen until the
spool is full. Every acknowledged reading must reach Kafka."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from conftest import Summary, server_config
from faults_gateways import Gateways
from faults_verdict import metric, wait_until
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.core import reasons
from sluice.embedded.broker import TansuBroker
from sluice.v1.ingest_pb2 import AckStatus
from tests.support.ingest import batch, push, reading
from tests.support.servers import SluiceServer

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

PAUSED_AFTER_SPOOLING_S = 2.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_broker_paused_past_the_breaker_threshold(
    broker: TansuBroker, topic: str, tmp_path: Path, summary: Summary
) -> None:
    config = server_config(broker.bootstrap, topic, tmp_path / "spool")
    with SluiceServer(config, tmp_path) as server:
        gateways = Gateways(server.target, count=4, per_gateway=6_000, rate=2_000)
        streaming = await gateways.launch()
        await asyncio.sleep(0.7)
        broker.pause()
        try:
            await wait_until(lambda: metric(server, "sluice_broker_up") == 0, 20, "the breaker")
            await wait_until(
                lambda: metric(server, "sluice_spooled_readings_total") > 2_000, 20, "spooling"
            )
            ready_while_paused = server.http_status("/readyz")
            await asyncio.sleep(PAUSED_AFTER_SPOOLING_S)  # a few failed probes
        finally:
            broker.resume()
        await streaming
        totals = await gateways.close()
        spooled = metric(server, "sluice_spooled_readings_total")
        await wait_until(lambda: metric(server, "sluice_spool_bytes") == 0, 30, "the replay")
        replayed = metric(server, "sluice_spool_replayed_readings_total")

    assert ready_while_paused == 200  # a Kafka outage alone leaves the pod ready
    scenario = "broker paused past the breaker threshold"
    verdict = summary.judge(scenario, broker, topic, gateways, totals)
    verdict.notes.update(spooled_readings=spooled, replayed_readings=replayed)
    assert verdict.lost == 0
    assert replayed >= spooled > 0


async def test_spool_full_refuses_and_stores_everything_it_acknowledged(
    broker: TansuBroker, topic: str, tmp_path: Path, summary: Summary
) -> None:
    config = server_config(
        broker.bootstrap,
        topic,
        tmp_path / "spool",
        spool={"max_bytes": 512 * 1024, "segment_bytes": 64 * 1024},
        kafka={"retry_after_ms": 300},
    )
    with SluiceServer(config, tmp_path) as server:
        gateways = Gateways(server.target, count=4, per_gateway=4_000, rate=3_000)
        streaming = await gateways.launch()
        await asyncio.sleep(0.5)
        broker.pause()
        try:
            await wait_until(lambda: server.http_status("/readyz") == 503, 30, "a full spool")
            await wait_until(
                lambda: health_of(server.target)["sluice.v1.Ingest"] == NOT_SERVING,
                5,
                "the gRPC readiness",
            )
            health = await asyncio.to_thread(health_of, server.target)
            # Larger than any room left: refused, and (the verdict checks) never stored.
            probe = batch([reading("probe", tags={"rid": f"probe:{i}"}) for i in range(2000)], 1)
            refused = await asyncio.to_thread(push, server.target, probe, 10)
            unavailable = gateways.totals()["unavailable"]
        finally:
            broker.resume()
        await streaming
        totals = await gateways.close()
        await wait_until(lambda: server.http_status("/readyz") == 200, 30, "readiness")
        await wait_until(lambda: metric(server, "sluice_spool_bytes") == 0, 30, "the replay")

    assert (refused.status, refused.reason) == (
        AckStatus.ACK_STATUS_UNAVAILABLE,
        reasons.KAFKA_UNAVAILABLE,
    )
    assert refused.retry_after_ms == 300
    # Readiness (the Ingest service) fails; liveness (the overall status) never does.
    assert health == {"": SERVING, "sluice.v1.Ingest": NOT_SERVING}
    assert unavailable > 0  # the gateways were told to retry, and did
    verdict = summary.judge("spool size cap reached", broker, topic, gateways, totals)
    verdict.notes.update(unavailable_acks=totals["unavailable"])
    assert verdict.lost == 0


def health_of(target: str) -> dict[str, int]:
    """The gRPC health status of the server overall and of the Ingest service."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return {
            service: stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            for service in ("", "sluice.v1.Ingest")
        }
