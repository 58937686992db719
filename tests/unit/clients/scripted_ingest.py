"""A scripted grpc.aio Ingest server: the test double for the client SDK's unit tests.

Each batch that arrives on a Stream is recorded and handed to ``responder(stream, batch)``,
which answers through the ``ScriptedStream``: send an Ack now, keep it for later, or end the
call with a status. The real server is tested elsewhere.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc

from sluice.v1 import ingest_pb2_grpc
from sluice.v1.ingest_pb2 import (
    ACK_STATUS_OK,
    Ack,
    ReadingBatch,
)

WAIT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class _End:
    code: grpc.StatusCode
    details: str


@dataclass(frozen=True)
class Received:
    """A batch as the double received it."""

    stream: int
    """Index of the Stream call it came on (0 for the first call)."""
    batch: ReadingBatch
    at: float
    """time.monotonic() at receipt."""


@dataclass
class ScriptedStream:
    """One Stream call; the responder answers through it."""

    index: int
    metadata: dict[str, str]
    actions: asyncio.Queue[Ack | _End] = field(default_factory=asyncio.Queue)

    def send(self, ack: Ack) -> None:
        """Writes ``ack`` to the client."""
        self.actions.put_nowait(ack)

    def ok(self, batch: ReadingBatch) -> None:
        """Acknowledges ``batch`` as OK, every reading accepted."""
        self.send(ok_ack(batch))

    def end(self, code: grpc.StatusCode, details: str = "") -> None:
        """Ends the call with ``code`` after the actions already queued."""
        self.actions.put_nowait(_End(code, details))


def ok_ack(batch: ReadingBatch) -> Ack:
    """An OK Ack for ``batch``."""
    return Ack(seq=batch.seq, status=ACK_STATUS_OK, accepted=len(batch.readings))


def ack_all(stream: ScriptedStream, batch: ReadingBatch) -> None:
    """The default responder: every batch OK at once."""
    stream.ok(batch)


def hold_all(stream: ScriptedStream, batch: ReadingBatch) -> None:
    """A responder that answers nothing; the test acknowledges through ``streams``."""


Responder = Callable[[ScriptedStream, ReadingBatch], None]


class ScriptedIngest(ingest_pb2_grpc.IngestServicer):
    """The Ingest service, answering as the test scripts it."""

    def __init__(
        self,
        responder: Responder = ack_all,
        on_open: Callable[[ScriptedStream], None] | None = None,
    ) -> None:
        self.responder = responder
        self.on_open = on_open
        self.push_ack: Callable[[ReadingBatch], Ack] = ok_ack
        self.push_abort: tuple[grpc.StatusCode, str] | None = None
        """When set, Push ends with this status and details instead of answering."""
        self.streams: list[ScriptedStream] = []
        self.received: list[Received] = []
        self.pushed: list[ReadingBatch] = []
        self._changed = asyncio.Event()

    def seqs(self, stream: int | None = None) -> list[int]:
        """Seqs received, in order of arrival, on one stream or on all."""
        return [r.batch.seq for r in self.received if stream is None or r.stream == stream]

    def batch_sizes(self) -> list[int]:
        """Readings per received batch, in order of arrival."""
        return [len(r.batch.readings) for r in self.received]

    async def wait_for(
        self, condition: Callable[[], bool], timeout_s: float = WAIT_TIMEOUT_S
    ) -> None:
        """Waits until ``condition()`` holds after something arrived; fails after timeout_s."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                await self._changed.wait()
                self._changed.clear()

    async def Stream(
        self,
        request_iterator: AsyncIterator[ReadingBatch],
        context: grpc.aio.ServicerContext[ReadingBatch, Ack],
    ) -> None:
        metadata = {key: str(value) for key, value in context.invocation_metadata() or ()}
        stream = ScriptedStream(len(self.streams), metadata)
        self.streams.append(stream)
        self._notify()
        if self.on_open is not None:
            self.on_open(stream)
        reader = asyncio.create_task(self._read(stream, request_iterator))
        try:
            while True:
                action = await stream.actions.get()
                if isinstance(action, Ack):
                    await context.write(action)
                elif action.code == grpc.StatusCode.OK:
                    return
                else:
                    await context.abort(action.code, action.details)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def Push(
        self, request: ReadingBatch, context: grpc.aio.ServicerContext[ReadingBatch, Ack]
    ) -> Ack:
        self.pushed.append(request)
        self._notify()
        if self.push_abort is not None:
            await context.abort(*self.push_abort)
        return self.push_ack(request)

    async def _read(self, stream: ScriptedStream, requests: AsyncIterator[ReadingBatch]) -> None:
        async for batch in requests:
            self.received.append(Received(stream.index, batch, time.monotonic()))
            self._notify()
            self.responder(stream, batch)
        # The client half-closed: end the call once the queued answers are out.
        stream.end(grpc.StatusCode.OK)

    def _notify(self) -> None:
        self._changed.set()


@contextlib.asynccontextmanager
async def serve(
    double: ScriptedIngest,
    port: int = 0,
    credentials: grpc.ServerCredentials | None = None,
) -> AsyncIterator[str]:
    """Serves ``double`` on 127.0.0.1 and yields its ``host:port``; stops it on exit."""
    server = grpc.aio.server()
    ingest_pb2_grpc.add_IngestServicer_to_server(double, server)
    address = f"127.0.0.1:{port}"
    if credentials is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, credentials)
    await server.start()
    try:
        yield f"127.0.0.1:{bound}"
    finally:
        await server.stop(None)
