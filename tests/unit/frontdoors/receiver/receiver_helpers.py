"""A real grpc.aio server on a loopback port around an IngestService and a test sink."""

from __future__ import annotations

from typing import Any

import grpc
from prometheus_client import CollectorRegistry

from sluice.core.config.ratelimit import RateLimitConfig
from sluice.core.config.server import ServerConfig
from sluice.frontdoors.receiver.admission import Admission
from sluice.frontdoors.receiver.budget import InflightBudget
from sluice.frontdoors.receiver.dedup import AckCache
from sluice.frontdoors.receiver.service import IngestService
from sluice.ops.auth import AuthConfig, Authenticator, NoAuth
from sluice.ops.metrics import Metrics
from sluice.stages.ratelimit.limiter import RateLimiter
from sluice.stages.stage import Stage
from sluice.v1.ingest_pb2 import Reading, ReadingBatch


class Harness:
    def __init__(self, service: IngestService, port: int, metrics: Metrics) -> None:
        self.service = service
        self.target = f"127.0.0.1:{port}"
        self.metrics = metrics


async def start(
    sink: Stage, auth: Authenticator | None = None, **server: Any
) -> tuple[grpc.aio.Server, Harness]:
    """Serve ``sink`` behind the receiver with ``ServerConfig(**server)`` and ``auth``."""
    config = ServerConfig(**server)
    metrics = Metrics(CollectorRegistry())
    admission = Admission(
        sink,
        RateLimiter(RateLimitConfig(), metrics),
        InflightBudget(config.queue_max_bytes, config.queue_max_readings, metrics),
        AckCache(config.dedup_entries),
        config,
        metrics,
    )
    service = IngestService(admission, auth or NoAuth(AuthConfig()), config, metrics)
    grpc_server = grpc.aio.server()
    grpc_server.add_generic_rpc_handlers((service.generic_handler(),))
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    await grpc_server.start()
    return grpc_server, Harness(service, port, metrics)


def message(seq: int, session: str = "s-1", readings: int = 1) -> ReadingBatch:
    return ReadingBatch(
        seq=seq,
        source_id="gw",
        session_id=session,
        readings=[Reading(device_id="d", metric="m", value=float(i)) for i in range(readings)],
    )
