"""What ``sluice query`` exports: its requests by route template, method and status, their
sizes and latency (prometheus-fastapi-instrumentator's families, ``sluice_query_http_*``), and
``sluice_ready{component="query"}``; nothing of the gateway's."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_fastapi_instrumentator import metrics as instrumentator_metrics

from sluice.ops.metrics import readiness


class QueryMetrics:
    """The query API's metric set, in ``registry``, declared when it is built (not at the
    first request), so a scrape shows every family from the start."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.ready = readiness(registry, "query")
        requests = instrumentator_metrics.default(
            metric_namespace="sluice", metric_subsystem="query", registry=registry
        )
        if requests is None:  # the library's answer to families already in the registry
            raise ValueError("this registry already holds the query API's request metrics")
        self.requests: Callable[[instrumentator_metrics.Info], None] = requests
        """Counts one answered request; the instrumentator's middleware calls it."""
