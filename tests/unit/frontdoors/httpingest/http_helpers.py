"""Helpers of the HTTP ingest tests: a real listener on loopback over test sinks, and bodies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.core.config.http import HttpConfig
from sluice.core.config.ratelimit import RateLimitConfig
from sluice.core.config.server import ServerConfig
from sluice.frontdoors.httpingest.listener import HttpIngestListener
from sluice.frontdoors.receiver.admission import Admission
from sluice.frontdoors.receiver.budget import InflightBudget
from sluice.frontdoors.receiver.dedup import AckCache
from sluice.ops.auth import AuthConfig, build_authenticator
from sluice.ops.metrics import Metrics
from sluice.stages.process.stage import CheckStage
from sluice.stages.ratelimit.limiter import RateLimiter
from sluice.stages.ratelimit.stage import RateLimitStage
from sluice.stages.stage import Stage

TOKEN = "s3cret-token"
QUERY_ONLY = "query-token"


@dataclass
class Harness:
    url: str
    listener: HttpIngestListener
    metrics: Metrics

    def requests(self, code: int) -> float:
        value = self.metrics.registry.get_sample_value(
            "sluice_http_requests_total", {"code": str(code)}
        )
        return value or 0.0


def digest(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


async def serve(
    sink: Stage,
    *,
    http: dict[str, Any] | None = None,
    auth: AuthConfig | None = None,
    ratelimit: RateLimitConfig | None = None,
    checks: ChecksConfig | None = None,
) -> tuple[HttpIngestListener, Harness]:
    metrics = Metrics(CollectorRegistry())
    server = ServerConfig()
    limiter = RateLimiter(ratelimit or RateLimitConfig(), metrics)
    limits = RateLimitStage(limiter, sink)
    head = CheckStage(checks or ChecksConfig(), TransformsConfig(), metrics, limits)
    admission = Admission(
        head,
        limiter,
        InflightBudget(server.queue_max_bytes, server.queue_max_readings, metrics),
        AckCache(1000),
        server,
        metrics,
    )
    config = HttpConfig(enabled=True, listen="127.0.0.1:0", **(http or {}))
    listener = HttpIngestListener(
        config, admission, build_authenticator(auth or AuthConfig()), metrics
    )
    await listener.start()
    return listener, Harness(f"http://127.0.0.1:{listener.port}/v1/ingest", listener, metrics)


def body(*readings: dict[str, Any], source_id: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"readings": list(readings)}
    if source_id is not None:
        result["source_id"] = source_id
    return result


def reading(device_id: str = "dev-1", value: Any = 21.5, **extra: Any) -> dict[str, Any]:
    return {"device_id": device_id, "metric": "temperature", "value": value, **extra}


async def post(url: str, payload: Any, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        if isinstance(payload, bytes):
            return await client.post(url, content=payload, **kwargs)
        return await client.post(url, json=payload, **kwargs)
