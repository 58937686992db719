"""Serves an ASGI app on the ops port, inside the running asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from sluice.core.netutil import bind_shared

STARTUP_TIMEOUT_S = 10.0
GRACEFUL_SHUTDOWN_S = 2


class CannotListen(RuntimeError):
    """A listener cannot bind its address: the message names the config key and the address."""

    def __init__(self, key: str, address: str, why: object, errno: int | None = None) -> None:
        super().__init__(f"cannot listen on {address} ({key}): {why}")
        self.errno = errno
        """The bind's error number, when the operating system gave one."""


class _QuietSignalsServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OpsServer:
    """An HTTP listener for the ops app, with ``start()`` and an idempotent ``shutdown()``.

    The socket is bound with SO_REUSEADDR and SO_REUSEPORT, so every worker process serves
    the same ops port. uvicorn runs as a task of the current loop and installs no signal
    handlers: the worker owns signals. With ``ssl_context`` it serves HTTPS; certificates
    loaded into that context later (rotation) apply to new connections. ``key`` is the config
    key of ``listen``, named by ``CannotListen`` when the address is taken.
    """

    def __init__(
        self,
        listen: str,
        app: ASGIApp,
        ssl_context: ssl.SSLContext | None = None,
        *,
        key: str = "ops.listen",
    ) -> None:
        self._listen = listen
        self._key = key
        self._app = app
        self._ssl_context = ssl_context
        self._socket: socket.socket | None = None
        self._server: _QuietSignalsServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The context it serves HTTPS with (load renewed certificates into it), or None."""
        return self._ssl_context

    @property
    def port(self) -> int:
        """The bound port; known once ``start()`` has returned."""
        if self._socket is None:
            raise RuntimeError("OpsServer.port is known only after start()")
        port: int = self._socket.getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind the listener and serve until ``shutdown()``; ``CannotListen`` if the address
        cannot be bound."""
        if self._task is not None:
            return
        try:
            self._socket = bind_shared(self._listen)
        except OSError as error:
            raise CannotListen(
                self._key, self._listen, error.strerror or error, error.errno
            ) from None
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            ssl_context_factory=self._context_factory if self._ssl_context else None,
        )
        self._server = server = _QuietSignalsServer(config)
        self._task = asyncio.create_task(server.serve(sockets=[self._socket]), name="ops-http")
        await self._wait_started(server, self._task)

    def _context_factory(self, _config: uvicorn.Config, _default: object) -> ssl.SSLContext:
        assert self._ssl_context is not None
        return self._ssl_context

    async def _wait_started(self, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT_S
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"ops server on {self._listen} stopped during start-up")
            if loop.time() > deadline:
                raise TimeoutError(f"ops server on {self._listen} did not start")
            await asyncio.sleep(0.005)

    async def shutdown(self) -> None:
        """Stop accepting, finish open requests and close the socket. Safe twice and unstarted."""
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await self._task
        if self._socket is not None:
            self._socket.close()
