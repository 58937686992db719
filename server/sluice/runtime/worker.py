"""One worker process: the gRPC server, the pipeline and the ops listener, until drained.

Start-up runs sink-first (pipeline, then gRPC and HTTP ingest, then ops). SIGTERM or SIGINT
drains:

1. readiness goes false (gRPC health NOT_SERVING, /readyz 503);
2. every stream stops reading, acknowledges what it read, and ends UNAVAILABLE "draining";
   at the same time HTTP ingest answers new requests 503 and the others once durable;
3. the gRPC server stops, the pipeline shuts down head-first and the producer flushes;
4. the process exits 0.

SIGHUP reloads the bearer tokens (from the config file and the environment) and the TLS
files, for the calls and connections that follow.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sluice.core.config.server import STREAM_HEADROOM
from sluice.core.config.settings import Settings
from sluice.core.netutil import is_loopback, split_host_port
from sluice.core.tasks import cancel_and_wait
from sluice.frontdoors.httpingest.listener import HttpIngestListener
from sluice.frontdoors.receiver.admission import Admission
from sluice.frontdoors.receiver.budget import InflightBudget
from sluice.frontdoors.receiver.dedup import AckCache
from sluice.frontdoors.receiver.service import SERVICE_NAME, IngestService
from sluice.ops.app import build_ops_app
from sluice.ops.auth import build_authenticator
from sluice.ops.auth.reload import reload_tokens
from sluice.ops.collector_pauses import CollectorPauses
from sluice.ops.metrics import Metrics
from sluice.ops.server import CannotListen, OpsServer
from sluice.ops.tls import CertificateReloader
from sluice.ops.tracing import server_interceptors
from sluice.runtime.collector import tune_for_steady_state
from sluice.stages.pipeline import Pipeline

log = logging.getLogger(__name__)

READINESS_INTERVAL_S = 0.5
GRPC_PENDING_SOFT = 1000
GRPC_PENDING_HARD = 3000
"""grpc's own limits on calls waiting to be picked up (``grpc.server.max_pending_requests``)."""
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
EXIT_CANNOT_LISTEN = 1


def grpc_options(settings: Settings) -> list[tuple[str, int]]:
    """Channel arguments of the gRPC server: limits, keepalive policy and connection age."""
    server = settings.server
    options = [
        ("grpc.so_reuseport", 1),
        ("grpc.max_receive_message_length", server.max_message_bytes),
        # Above the Ingest.Stream limit, so that a client over it is told RESOURCE_EXHAUSTED
        # (rather than queued) and its Push and health calls still get through.
        ("grpc.max_concurrent_streams", server.max_streams_per_connection + STREAM_HEADROOM),
        ("grpc.http2.min_ping_interval_without_data_ms", int(server.keepalive_min_time_s * 1000)),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.keepalive_permit_without_calls", 1),
        # Calls that have arrived but that the application has not picked up yet: past
        # grpc's default of 1,000 (3,000 at most) new ones are refused before Sluice sees
        # them (the client reads RESOURCE_EXHAUSTED, INTERNAL or CANCELLED), which a fleet
        # reconnecting at once after a restart hits. Up to server.max_streams, the streams
        # Sluice takes anyway, wait their turn; never fewer than grpc's defaults, so that
        # Sluice itself refuses a flood over a small server.max_streams, with its reason.
        ("grpc.server.max_pending_requests", max(server.max_streams, GRPC_PENDING_SOFT)),
        ("grpc.server.max_pending_requests_hard_limit", max(server.max_streams, GRPC_PENDING_HARD)),
    ]
    if server.max_connection_age_s is not None:
        # Streams drain themselves at this age (see IngestService); the GOAWAY makes the
        # client's next stream open a new connection, possibly to another pod.
        age_ms = int(server.max_connection_age_s * 1000)
        options.append(("grpc.max_connection_age_ms", age_ms))
        options.append(
            ("grpc.max_connection_age_grace_ms", int(server.max_connection_age_grace_s * 1000))
        )
    return options


class Worker:
    """Owns one process's servers and pipeline."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        reload_settings: Callable[[], Settings] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._reload_settings = reload_settings
        self.pipeline = Pipeline(settings, metrics)
        self.admission = admission = Admission(
            self.pipeline.head,
            self.pipeline.limiter,
            InflightBudget(
                settings.server.queue_max_bytes, settings.server.queue_max_readings, metrics
            ),
            AckCache(settings.server.dedup_entries),
            settings.server,
            metrics,
        )
        self.auth = auth = build_authenticator(settings.auth)
        self.service = IngestService(admission, auth, settings.server, metrics)
        self.http = (
            HttpIngestListener(
                settings.http, admission, auth, metrics, settings.server.max_id_length
            )
            if settings.http.enabled
            else None
        )
        tls = settings.server.tls
        self.certificates = None if tls is None else CertificateReloader(tls)
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self.grpc_port = 0
        self._grpc: grpc.aio.Server | None = None
        self._ops: OpsServer | None = None
        self._ready = False
        self._stop = asyncio.Event()
        self._stopped = False
        self._readiness: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._collector_pauses = CollectorPauses(metrics.gc_pauses, metrics.tallies)

    @property
    def ops_port(self) -> int:
        """The bound port of the ops listener; known once ``start()`` has returned."""
        if self._ops is None:
            raise RuntimeError("Worker.ops_port is known only after start()")
        return self._ops.port

    def ready(self) -> bool:
        """True while this worker accepts new batches: not draining, and Kafka or the spool
        can take them (a Kafka outage alone leaves the worker ready while the spool has room)."""
        return self._ready and self.pipeline.accepting()

    def why_not_ready(self) -> str:
        """Why ``ready()`` is false."""
        if not self._ready:
            return "draining" if self._stopped else "starting"
        return "Kafka is unreachable (circuit breaker open) and the spool is full or disabled"

    async def _follow_readiness(self) -> None:
        """Keep the gRPC health of the Ingest service (the readiness probe's) and
        ``sluice_ready`` in step with ``ready()``; the overall status (liveness) never
        depends on Kafka."""
        shown = True
        while True:
            await asyncio.sleep(READINESS_INTERVAL_S)
            ready = self.ready()
            if ready != shown and not self._stopped:
                shown = ready
                status = health_pb2.HealthCheckResponse.SERVING if ready else NOT_SERVING
                await self.health.set(SERVICE_NAME, status)
                self.metrics.ready.set(int(ready))

    async def start(self) -> None:
        """Start the pipeline, then the gRPC listener, then the ops listener."""
        self._collector_pauses.start()
        self._publisher = asyncio.create_task(self.metrics.tallies.run(), name="metrics")
        await self.pipeline.start()
        server = grpc.aio.server(
            interceptors=server_interceptors(), options=grpc_options(self.settings)
        )
        server.add_generic_rpc_handlers((self.service.generic_handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        listen = self.settings.server.listen
        in_clear = self.certificates is None and self.settings.auth.mode == "token"
        if in_clear and not is_loopback(split_host_port(listen)[0]):
            log.warning(
                "bearer tokens cross the network in clear text: server.tls is not set "
                "(fine only behind a TLS-terminating proxy or service mesh)"
            )
        try:
            if self.certificates is None:
                self.grpc_port = server.add_insecure_port(listen)
            else:
                self.grpc_port = server.add_secure_port(listen, self.certificates.credentials())
        except RuntimeError as error:  # gRPC says only that it failed to bind
            raise CannotListen("server.listen", listen, f"{error} (is the port taken?)") from None
        await server.start()
        self._grpc = server
        if self.http is not None:
            await self.http.start()
        self._ops = OpsServer(
            self.settings.ops.listen,
            build_ops_app(self.metrics.registry, self.ready, self.why_not_ready),
        )
        await self._ops.start()
        serving = health_pb2.HealthCheckResponse.SERVING
        await self.health.set("", serving)
        await self.health.set(SERVICE_NAME, serving)
        self._ready = True
        self.metrics.ready.set(1)
        self._readiness = asyncio.create_task(self._follow_readiness(), name="readiness")
        log.info(
            "sluice worker ready",
            extra={
                "grpc_port": self.grpc_port,
                "ops_port": self._ops.port,
                "http_port": None if self.http is None else self.http.port,
            },
        )

    def reload(self) -> None:
        """SIGHUP: re-read the bearer tokens and the TLS files; calls and connections made
        from now on use them."""
        self.reload_tokens()
        self.reload_certificates()

    def reload_tokens(self) -> None:
        """Re-read the config's ``auth.tokens``; an invalid config keeps the tokens in use."""
        if self._reload_settings is not None:
            reload_tokens(self.auth, self._reload_settings)

    def reload_certificates(self) -> None:
        """Re-read the TLS files; connections made from now on use them."""
        if self.http is not None and self.settings.http.tls is not None:
            self.http.reload_tls()
        if self.certificates is None:
            log.info("SIGHUP received; no server.tls to reload")
            return
        self.certificates.reload()

    def request_stop(self) -> None:
        """Ask the worker to drain and stop (signal-safe: only sets an event)."""
        self._stop.set()

    async def wait(self) -> None:
        """Block until a stop is requested."""
        await self._stop.wait()

    async def shutdown(self) -> None:
        """Drain and stop everything; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._ready = False
        self.metrics.ready.set(0)
        if self._readiness is not None:
            self._readiness.cancel()
        await self.health.enter_graceful_shutdown()
        try:
            async with asyncio.timeout(self.settings.server.drain_timeout_s):
                await asyncio.gather(
                    self.service.drain(), *([self.http.drain()] if self.http else [])
                )
        except TimeoutError:
            log.warning("drain timed out; %d streams still open", self.service.open_streams)
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        if self.http is not None:
            await self.http.shutdown()
        await self.pipeline.shutdown()
        self._collector_pauses.stop()
        await cancel_and_wait(self._publisher)  # it publishes once more as it stops
        if self._ops is not None:
            await self._ops.shutdown()
        log.info("sluice worker stopped")


async def serve(
    settings: Settings, metrics: Metrics, reload_settings: Callable[[], Settings] | None = None
) -> int:
    """Run one worker until SIGTERM or SIGINT, then drain; returns the exit code.

    On SIGHUP it reloads what ``Worker.reload`` does, the tokens from ``reload_settings()``.
    """
    worker = Worker(settings, metrics, reload_settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.request_stop)
    loop.add_signal_handler(signal.SIGHUP, worker.reload)
    # The supervisor starts workers with SIGHUP blocked; one that came early arrives now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    try:
        await worker.start()
        tune_for_steady_state()
        await worker.wait()
    except CannotListen as error:
        log.error("sluice worker cannot start: %s", error, extra={"reason": str(error)})
        return EXIT_CANNOT_LISTEN
    finally:
        await worker.shutdown()
    return 0
