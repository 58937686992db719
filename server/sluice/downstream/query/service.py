"""The query API's listener, and the ``sluice query`` process that serves it.

The listener is its own port (``query.listen``), with HTTPS when ``query.tls`` is set;
never the ops port (``query.ops_listen``: /metrics, /healthz, /readyz). ``sluice query``
opens the store ``rollup.store`` names (creating its tables if missing), serves until
SIGTERM or SIGINT, then finishes open requests and exits 0; SIGHUP reloads its tokens and
its TLS files.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from fastapi import FastAPI

from sluice.core.config.settings import Settings
from sluice.downstream.query.app import build_query_app
from sluice.downstream.query.metrics import QueryMetrics
from sluice.downstream.rollup.backends import open_store
from sluice.downstream.rollup.store import RollupStore
from sluice.ops.app import build_ops_app
from sluice.ops.auth import Authenticator, build_authenticator
from sluice.ops.auth.reload import reload_tokens
from sluice.ops.server import OpsServer
from sluice.ops.tls import reload_tls, server_context

log = logging.getLogger(__name__)


def query_app(
    settings: Settings,
    store: RollupStore,
    metrics: QueryMetrics,
    auth: Authenticator | None = None,
) -> FastAPI:
    """The query app over ``store``, authenticating callers with ``auth`` (by default as the
    ``auth`` section says) and counting its requests in ``metrics``."""
    return build_query_app(
        store,
        auth or build_authenticator(settings.auth),
        settings.query,
        token_required=settings.auth.mode != "none",
        metrics=metrics,
    )


def query_listener(settings: Settings, app: FastAPI, listen: str | None = None) -> OpsServer:
    """The HTTP(S) listener of the query ``app``, on ``listen`` (default ``query.listen``)."""
    tls = settings.query.tls
    return OpsServer(
        listen or settings.query.listen,
        app,
        None if tls is None else server_context(tls),
        key="query.listen",
    )


async def serve_query(
    settings: Settings, reload_settings: Callable[[], Settings] | None = None
) -> int:
    """Run ``sluice query`` until SIGTERM or SIGINT; returns the exit code.

    SIGHUP reloads the tokens (from ``reload_settings()``) and the TLS files, for the
    requests and connections that follow.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    store = await asyncio.to_thread(open_store, settings.rollup)
    metrics = QueryMetrics()
    auth = build_authenticator(settings.auth)
    listener = query_listener(settings, query_app(settings, store, metrics, auth))

    def reload() -> None:
        if reload_settings is not None:
            reload_tokens(auth, reload_settings)
        tls, context = settings.query.tls, listener.ssl_context
        if tls is not None and context is not None:
            reload_tls(context, tls, "query API")

    loop.add_signal_handler(signal.SIGHUP, reload)
    # Ready while the API listens: the store is open before it starts.
    ops = OpsServer(
        settings.query.ops_listen,
        build_ops_app(metrics.registry, lambda: not stop.is_set()),
        key="query.ops_listen",
    )
    try:
        await listener.start()
        await ops.start()
        metrics.ready.set(1)
        log.info("sluice query ready", extra={"port": listener.port, "ops_port": ops.port})
        await stop.wait()
    finally:
        metrics.ready.set(0)
        await listener.shutdown()
        await ops.shutdown()
        store.close()
    log.info("sluice query stopped")
    return 0
