"""Keeping one ``Ingest.Stream`` open: writing queued batches, reading Acks, reconnecting."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import grpc

from sluice.v1.ingest_pb2 import Ack, ReadingBatch
from sluice_client.backoff import Backoff
from sluice_client.errors import CallFailed, SluiceClientError
from sluice_client.stats import ClientStats
from sluice_client.window import AckWindow

logger = logging.getLogger("sluice_client")

StreamCall = grpc.aio.StreamStreamMultiCallable[ReadingBatch, Ack]
RequeueFn = Callable[[float, int], None]
"""``requeue_after(delay_s, seq)``: write batch ``seq`` again after ``delay_s`` on this stream."""
AckHandler = Callable[[Ack, RequeueFn], None]

FINAL_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)
"""Statuses that end the session: retrying cannot fix them. Every other status, and a lost
connection, is retried with backoff (UNAVAILABLE, including "draining", RESOURCE_EXHAUSTED…)."""

FINISH_GRACE_S = 1.0

_WRITE_ENDED = (grpc.aio.AioRpcError, asyncio.InvalidStateError, grpc.aio.UsageError)


class _Stream:
    """One call and the seqs waiting to be written on it."""

    def __init__(self, call: grpc.aio.StreamStreamCall[ReadingBatch, Ack]) -> None:
        self.call = call
        self.outbox: asyncio.Queue[int] = asyncio.Queue()
        self.open = True

    def requeue_after(self, delay_s: float, seq: int) -> None:
        asyncio.get_running_loop().call_later(delay_s, self._requeue, seq)

    def _requeue(self, seq: int) -> None:
        # A stream that has ended drops the retry: its successor resends every pending batch.
        if self.open:
            self.outbox.put_nowait(seq)


class StreamRunner:
    """Keeps one ``Ingest.Stream`` open for a session and reconnects when it ends.

    On each new stream every batch in the window is written again, in seq order, honouring
    its ``not_before``. Acks go to ``on_ack``. A final status sets ``failure`` and fails the
    window; any other end is followed by a reconnect after a full-jitter backoff.
    """

    def __init__(
        self,
        rpc: StreamCall,
        metadata: tuple[tuple[str, str], ...],
        window: AckWindow,
        backoff: Backoff,
        stats: ClientStats,
        on_ack: AckHandler,
    ) -> None:
        self._rpc = rpc
        self._metadata = metadata
        self._window = window
        self._backoff = backoff
        self._stats = stats
        self._on_ack = on_ack
        self._stream: _Stream | None = None
        self._closing = False
        self._finished = asyncio.Event()
        self.failure: BaseException | None = None
        """The error that ended the session, if one did."""

    def enqueue(self, seq: int) -> None:
        """Writes batch ``seq`` on the open stream (or on the next one, via the window)."""
        if self._stream is not None:
            self._stream.outbox.put_nowait(seq)

    async def run(self) -> None:
        """Opens streams until ``finish()`` or a final status."""
        attempt = 0
        opened = 0
        try:
            while True:
                if opened:
                    self._stats.reconnects += 1
                opened += 1
                healthy, code, details = await self._run_stream()
                if self._closing and not len(self._window):
                    return
                if code in FINAL_CODES:
                    self._fail(CallFailed(code, details))
                    return
                if healthy:
                    attempt = 0
                delay = self._backoff.delay(attempt)
                attempt += 1
                logger.warning(
                    "stream ended with %s (%s); reconnecting in %.2fs, %d batch(es) to resend",
                    code.name,
                    details,
                    delay,
                    len(self._window),
                )
                await asyncio.sleep(delay)
        except Exception as error:
            logger.exception("the stream runner failed")
            failure = SluiceClientError(f"the stream runner failed: {error!r}")
            failure.__cause__ = error
            self._fail(failure)
        finally:
            self._finished.set()

    async def finish(self, grace_s: float = FINISH_GRACE_S) -> None:
        """Half-closes the stream once nothing awaits an Ack and waits for it to end."""
        self._closing = True
        stream = self._stream
        if stream is None or len(self._window):
            return
        with contextlib.suppress(*_WRITE_ENDED):
            await stream.call.done_writing()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._finished.wait(), grace_s)

    def _fail(self, error: BaseException) -> None:
        logger.error("the session ended: %s", error)
        self.failure = error
        self._window.fail(error)

    async def _run_stream(self) -> tuple[bool, grpc.StatusCode, str]:
        """Runs one stream to its end: (whether an Ack arrived, its status, its details)."""
        call = self._rpc(None, metadata=self._metadata)
        stream = _Stream(call)
        for seq in self._window.seqs():
            stream.outbox.put_nowait(seq)
        self._stream = stream
        writer = asyncio.create_task(self._write_loop(stream), name="sluice-client-writer")
        healthy = False
        try:
            async for ack in call:
                healthy = True
                self._on_ack(ack, stream.requeue_after)
            return healthy, grpc.StatusCode.OK, ""
        except grpc.aio.AioRpcError as error:
            return healthy, error.code(), error.details() or ""
        finally:
            stream.open = False
            self._stream = None
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            call.cancel()

    async def _write_loop(self, stream: _Stream) -> None:
        window = self._window
        stats = self._stats
        # A write fails once the call has ended; the reader reports how it ended.
        with contextlib.suppress(*_WRITE_ENDED):
            while True:
                seq = await stream.outbox.get()
                pending = window.get(seq)
                if pending is None:
                    continue
                wait = pending.not_before - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    if window.get(seq) is None:
                        continue
                if pending.written:
                    stats.resends += 1
                pending.written = True
                await stream.call.write(pending.batch)
