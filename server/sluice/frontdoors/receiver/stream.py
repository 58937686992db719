"""One ``Ingest.Stream`` call: a reader that admits batches and a writer that sends Acks.

Reading and acknowledging are decoupled: the reader keeps admitting batches while earlier
ones await delivery, up to ``inflight_per_stream``, and Acks go out in completion order.
When the window is full the reader stops reading, so HTTP/2 flow control pushes back on the
client. A stream that never reads its Acks fills the window the same way.

A stream ends in one of these ways, always after every batch already read is acknowledged:
the client half-closes (status OK), a message is undecodable (INVALID_ARGUMENT), the server
drains (UNAVAILABLE "draining"), the server waited ``idle_timeout_s`` for a message
(DEADLINE_EXCEEDED), or ``end()`` is called with another status (an expired token).

The idle check costs one clock read per message: a per-stream timer compares the time the
reader started waiting with the clock, and re-arms itself for the remaining time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc

from sluice.frontdoors.receiver.acks import DRAINING, StreamError, idle_stream
from sluice.frontdoors.receiver.admission import Admission
from sluice.ops.metrics import Metrics
from sluice.v1.ingest_pb2 import Ack

log = logging.getLogger(__name__)

_END = object()


class StreamSession:
    """Drives one bidirectional stream from its first read to its final status."""

    def __init__(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        tenant: str,
        admission: Admission,
        window: int,
        metrics: Metrics,
        idle_timeout_s: float | None = None,
        traceparent: str = "",
    ) -> None:
        self._context = context
        self._tenant = tenant
        self._admission = admission
        self._window = asyncio.Semaphore(window)
        self._metrics = metrics
        self._outbox: asyncio.Queue[Ack | object] = asyncio.Queue()
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._reading = False
        self._stopping = False
        self._ending: StreamError | None = None
        self._reader: asyncio.Task[None] | None = None
        self._idle_timeout_s = idle_timeout_s
        self._traceparent = traceparent
        self._idle_timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._waiting_since = self._loop.time()

    async def run(self, requests: AsyncIterator[bytes]) -> AsyncIterator[Ack]:
        """Yield the stream's Acks until it ends, then end the call with its status.

        An async generator rather than ``context.write`` calls, because the OpenTelemetry
        server interceptor wraps stream handlers as async generators.
        """
        self._metrics.active_streams.inc()
        self._reader = asyncio.create_task(self._read_loop(requests))
        if self._idle_timeout_s is not None:
            self._idle_timer = self._loop.call_later(self._idle_timeout_s, self._check_idle)
        outbox = self._outbox
        try:
            while True:
                item = await outbox.get()
                if item is _END:
                    break
                yield item  # type: ignore[misc]
                # Resumed once grpc has written the Ack, so the window slot is free again.
                self._settled()
        finally:
            self._metrics.active_streams.dec()
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            if not self._reader.done():
                self._reader.cancel()
        if self._ending is not None:
            await self._context.abort(self._ending.code, self._ending.message)

    def drain(self) -> None:
        """Stop reading; the stream ends with UNAVAILABLE "draining" once all is acknowledged."""
        self.end(DRAINING)

    def end(self, error: StreamError) -> None:
        """Stop reading; the stream ends with ``error`` once all it read is acknowledged.

        A stream already ending keeps its first status.
        """
        if self._stopping:
            return
        self._stopping = True
        if self._ending is None:
            self._ending = error
        if self._reading and self._reader is not None:
            self._reader.cancel()

    def _check_idle(self) -> None:
        timeout = self._idle_timeout_s
        assert timeout is not None
        if self._stopping:
            return
        now = self._loop.time()
        # Only a reader waiting for the client counts: a full window is the server's doing.
        deadline = self._waiting_since + timeout if self._reading else now + timeout
        if deadline <= now:
            self._idle_timer = None
            self.end(idle_stream(timeout))
            return
        self._idle_timer = self._loop.call_later(deadline - now, self._check_idle)

    async def _read_loop(self, requests: AsyncIterator[bytes]) -> None:
        next_request = requests.__aiter__().__anext__
        submit = self._admission.submit
        clock = self._loop.time
        traceparent = self._traceparent
        try:
            while not self._stopping:
                await self._window.acquire()
                if self._stopping:
                    self._window.release()
                    break
                self._reading = True
                self._waiting_since = clock()
                try:
                    raw = await next_request()
                except StopAsyncIteration:
                    self._window.release()
                    break
                finally:
                    self._reading = False
                self._outstanding += 1
                self._idle.clear()
                try:
                    await submit(self._tenant, raw, self._on_ack, traceparent)
                except StreamError:
                    self._settled()
                    raise
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        except StreamError as error:
            self._ending = error
        finally:
            await self._idle.wait()
            self._outbox.put_nowait(_END)

    def _on_ack(self, ack: Ack) -> None:
        self._outbox.put_nowait(ack)

    def _settled(self) -> None:
        self._window.release()
        self._outstanding -= 1
        if self._outstanding == 0:
            self._idle.set()
