"""A TCP proxy on 127.0.0.1 that a test controls: cut every connection, refuse new ones for a
while, or slow the bytes down. Tansu advertises the proxy's port, so every Kafka connection
(bootstrap and broker) goes through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from sluice.core.netutil import free_port

HOST = "127.0.0.1"
CHUNK = 64 * 1024
T = TypeVar("T")


class FaultyProxy:
    """Forwards ``port`` to ``target_port``, on an event loop of its own in a thread."""

    def __init__(self, target_port: int, port: int = 0) -> None:
        self.port = port or free_port()
        self.target_port = target_port
        self.connections = 0
        self._down = False
        self._delay_s = 0.0
        self._rate = 0.0
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> FaultyProxy:
        """Listen, and forward every connection."""
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        """Close the listener and every connection, and stop the thread."""
        if not self._thread.is_alive():
            return
        self._call(self._close_all(listener=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self) -> None:
        """Close every connection now, and refuse new ones until ``restore``."""
        self._down = True
        self._call(self._close_all(listener=False))

    def restore(self) -> None:
        """Accept and forward connections again."""
        self._down = False

    def slow(self, delay_s: float, bytes_per_s: float) -> None:
        """Hold each chunk ``delay_s`` and pass at most ``bytes_per_s`` per direction and
        connection (0: no limit)."""
        self._delay_s, self._rate = delay_s, bytes_per_s

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, HOST, self.port)

    async def _close_all(self, listener: bool) -> None:
        if listener and self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._open.update((writer, upstream_writer))
        await asyncio.gather(
            self._pump(reader, upstream_writer),
            self._pump(upstream_reader, writer),
            return_exceptions=True,
        )
        for end in (writer, upstream_writer):
            self._open.discard(end)
            end.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(CHUNK):
                if self._delay_s:
                    await asyncio.sleep(self._delay_s)
                if self._rate:
                    await asyncio.sleep(len(data) / self._rate)
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
