"""The HTTP ingest listener of one worker: its own port, optional TLS, start, drain and stop.

It shares the port across workers (SO_REUSEPORT) like the gRPC and ops listeners, and is
never the ops port. With ``http.tls``, ``reload_tls()`` (the worker calls it on SIGHUP)
re-reads the certificate and key for new connections.
"""

from __future__ import annotations

import logging

from sluice.core.config.http import HttpConfig
from sluice.core.config.server import DEFAULT_MAX_ID_LENGTH
from sluice.core.netutil import is_loopback, split_host_port
from sluice.frontdoors.httpingest.app import HttpIngestApp
from sluice.frontdoors.receiver.admission import Admission
from sluice.ops.auth import Authenticator
from sluice.ops.metrics import Metrics
from sluice.ops.server import OpsServer
from sluice.ops.tls import reload_tls, server_context

log = logging.getLogger(__name__)


class HttpIngestListener:
    """Serves ``POST /v1/ingest`` on ``http.listen`` until drained and shut down."""

    def __init__(
        self,
        config: HttpConfig,
        admission: Admission,
        authenticator: Authenticator,
        metrics: Metrics,
        max_id_length: int = DEFAULT_MAX_ID_LENGTH,
    ) -> None:
        self._config = config
        self._ingest = HttpIngestApp(admission, authenticator, config, metrics, max_id_length)
        self._context = None if config.tls is None else server_context(config.tls)
        self._server = OpsServer(config.listen, self._ingest.app, self._context, key="http.listen")

    @property
    def port(self) -> int:
        """The bound port; known once ``start()`` has returned."""
        return self._server.port

    async def start(self) -> None:
        """Bind the listener and serve."""
        if self._context is None and not is_loopback(split_host_port(self._config.listen)[0]):
            log.warning(
                "HTTP ingest serves plain HTTP off loopback: bearer tokens cross the network "
                "in clear text (fine only behind a TLS-terminating proxy); set http.tls"
            )
        await self._server.start()

    async def drain(self) -> None:
        """Answer new requests 503 "draining" and wait until the others are answered.

        Bound it with ``asyncio.timeout``.
        """
        await self._ingest.drain()

    async def shutdown(self) -> None:
        """Stop accepting and close the listener; idempotent."""
        await self._server.shutdown()

    def reload_tls(self) -> bool:
        """Load the certificate files again for new connections; False (logged) if bad."""
        tls = self._config.tls
        if tls is None or self._context is None:
            return False
        return reload_tls(self._context, tls, "HTTP ingest")
