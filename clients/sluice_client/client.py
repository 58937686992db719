"""The async Ingest client: one long stream per session, batching, a window of
unacknowledged batches, and resends after RATE_LIMITED, UNAVAILABLE and reconnects."""

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from types import TracebackType

import grpc

from sluice.v1.ingest_pb2 import Ack, Reading, ReadingBatch
from sluice_client.acks import RejectionCallback, count_retry, is_retry, record_final
from sluice_client.backoff import Backoff
from sluice_client.batching import (
    DEFAULT_LINGER_S,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_READINGS,
    BatchBuilder,
)
from sluice_client.channel import (
    ChannelOptions,
    ClientInterceptors,
    TlsOptions,
    call_metadata,
    channel_options,
    open_channel,
)
from sluice_client.errors import (
    AckTimeout,
    CallFailed,
    ClientClosed,
    ConnectError,
    SluiceClientError,
)
from sluice_client.stats import ClientStats
from sluice_client.stream import RequeueFn, StreamCall, StreamRunner
from sluice_client.window import AckWindow, PendingBatch

logger = logging.getLogger("sluice_client")

DEFAULT_MAX_INFLIGHT = 16
DEFAULT_CLOSE_TIMEOUT_S = 30.0
STREAM_METHOD = "/sluice.v1.Ingest/Stream"
PUSH_METHOD = "/sluice.v1.Ingest/Push"
MAX_SEQ = 2**64 - 1
"""A batch's seq is a protobuf uint64."""


class IngestClient:
    """Streams readings to a Sluice server over one ``Ingest.Stream`` per session.

    ``send()`` buffers readings; a batch is cut at ``max_batch_readings`` readings,
    ``max_batch_bytes`` encoded bytes or ``linger_s`` after its first reading, whichever comes
    first. At most ``max_inflight`` batches await their Ack; past that, ``send()`` waits.
    Batches answered RATE_LIMITED or UNAVAILABLE are resent with the same seq after
    ``retry_after_ms``; after a reconnect every unacknowledged batch is resent, in seq order,
    with the same ``session_id``. A final gRPC status (e.g. UNAUTHENTICATED) is raised as
    ``CallFailed`` from the next ``send()``, ``flush()`` or ``close()``.

    Use it as ``async with IngestClient(...) as client:``, or call ``start()`` and
    ``close()``. Readings must not be changed after they are passed to ``send()``. A
    ``session_id`` reused by a new client needs a ``first_seq`` past every seq sent before:
    the server answers a (session_id, seq) it has seen from memory, without storing it.
    """

    def __init__(
        self,
        target: str,
        *,
        source_id: str = "",
        session_id: str | None = None,
        max_batch_readings: int = DEFAULT_MAX_READINGS,
        max_batch_bytes: int = DEFAULT_MAX_BYTES,
        linger_s: float = DEFAULT_LINGER_S,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        backoff: Backoff | None = None,
        token: str | None = None,
        tls: TlsOptions | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        extra_channel_options: ChannelOptions = (),
        interceptors: ClientInterceptors = (),
        on_rejection: RejectionCallback | None = None,
        first_seq: int = 1,
    ) -> None:
        if not (math.isfinite(linger_s) and linger_s >= 0):
            raise ValueError(f"linger_s must be a finite number of seconds >= 0, not {linger_s!r}")
        if not 1 <= first_seq <= MAX_SEQ:
            raise ValueError(f"first_seq must be 1 to {MAX_SEQ} (seq is a uint64), not {first_seq}")
        self.target = target
        self.source_id = source_id
        self.session_id = session_id or str(uuid.uuid4())
        self._linger_s = linger_s
        self._backoff = backoff or Backoff()
        self._tls = tls
        self._metadata = call_metadata(token, metadata)
        self._options = channel_options(self._backoff, extra_channel_options)
        self._interceptors = tuple(interceptors)
        self._on_rejection = on_rejection
        self._builder = BatchBuilder(max_batch_readings, max_batch_bytes)
        self._window = AckWindow(max_inflight)
        self._stats = ClientStats()
        self._next_seq = first_seq
        self._submit_lock = asyncio.Lock()
        self._buffer_started = asyncio.Event()
        self._channel: grpc.aio.Channel | None = None
        self._push_rpc: grpc.aio.UnaryUnaryMultiCallable[ReadingBatch, Ack] | None = None
        self._runner: StreamRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._closed = False

    @property
    def stats(self) -> ClientStats:
        """A copy of the counters so far."""
        stats = self._stats.copy()
        stats.unacknowledged_batches = len(self._window)
        return stats

    @property
    def failure(self) -> BaseException | None:
        """The final error that stopped the client, if any."""
        return None if self._runner is None else self._runner.failure

    async def start(self, connect_timeout_s: float | None = None) -> None:
        """Opens the channel and the stream.

        With ``connect_timeout_s``, first waits for the connection and raises ``ConnectError``
        if the server cannot be reached in time; without it, connecting is retried for ever.
        """
        if self._channel is not None or self._closed:
            raise ClientClosed("start() was already called")
        channel = open_channel(self.target, self._tls, self._options, self._interceptors)
        if connect_timeout_s is not None:
            try:
                await asyncio.wait_for(channel.channel_ready(), connect_timeout_s)
            except TimeoutError:
                await channel.close(None)
                raise ConnectError(self.target, connect_timeout_s) from None
        self._channel = channel
        self._push_rpc = channel.unary_unary(
            PUSH_METHOD, ReadingBatch.SerializeToString, Ack.FromString
        )
        stream_rpc: StreamCall = channel.stream_stream(
            STREAM_METHOD, ReadingBatch.SerializeToString, Ack.FromString
        )
        self._runner = StreamRunner(
            stream_rpc, self._metadata, self._window, self._backoff, self._stats, self._on_ack
        )
        self._tasks = [
            asyncio.create_task(self._runner.run(), name="sluice-client-stream"),
            asyncio.create_task(self._linger_loop(), name="sluice-client-linger"),
        ]

    async def send(self, reading: Reading) -> None:
        """Buffers one reading; waits while the window of unacknowledged batches is full."""
        await self.send_many((reading,))

    async def send_many(self, readings: Iterable[Reading]) -> None:
        """Buffers readings in order, as ``send()`` does for each."""
        self._check_usable()
        add = self._builder.add
        for reading in readings:
            for due in add(reading):
                await self._submit(due)
        if not self._buffer_started.is_set() and len(self._builder):
            self._buffer_started.set()

    async def flush(self) -> None:
        """Sends what is buffered and waits until every batch sent so far has a final Ack.

        Bound it with ``asyncio.timeout()``; ``close()`` takes a timeout of its own.
        """
        self._check_usable(allow_closing=True)
        readings = self._builder.take()
        if readings:
            await self._submit(readings)
        await self._window.wait_settled(self._next_seq - 1)

    async def push(self, batch: ReadingBatch, *, deadline_s: float | None = None) -> Ack:
        """Sends one batch with the unary ``Ingest.Push`` and returns its Ack as is.

        Missing ``session_id``, ``source_id`` and ``seq`` are filled from this client; the seq
        comes from the stream's counter, so that (session_id, seq) never names two batches.
        ``deadline_s`` is the call's gRPC deadline. Nothing is retried: a gRPC error, and a
        passed deadline, are raised as ``CallFailed``.
        """
        self._check_usable()
        assert self._push_rpc is not None
        request = ReadingBatch()
        request.CopyFrom(batch)
        request.session_id = request.session_id or self.session_id
        request.source_id = request.source_id or self.source_id
        if not request.seq:
            request.seq = self._take_seq()
        try:
            return await self._push_rpc(request, timeout=deadline_s, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise CallFailed(error.code(), error.details() or "") from error

    async def close(self, ack_timeout_s: float | None = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Flushes, waits up to ``ack_timeout_s`` for outstanding Acks, then closes the channel.

        Raises ``AckTimeout`` if batches were still unacknowledged, or the error that stopped
        the client (e.g. ``CallFailed``). Calling it again does nothing.
        """
        if self._closed or self._closing:
            return
        self._closing = True
        try:
            if self.failure is not None:
                raise self.failure
            if self._channel is not None:
                try:
                    async with asyncio.timeout(ack_timeout_s):
                        await self.flush()
                except TimeoutError:
                    raise AckTimeout(len(self._window), ack_timeout_s or 0.0) from None
        finally:
            await self._shutdown()

    async def __aenter__(self) -> "IngestClient":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.close()
            return
        try:
            await self.close()
        except Exception:
            logger.warning("closing the client after an error failed", exc_info=True)

    def _check_usable(self, *, allow_closing: bool = False) -> None:
        failure = self.failure
        if failure is not None:
            raise failure
        if self._channel is None or self._closed or (self._closing and not allow_closing):
            raise ClientClosed("the client is not started, or closed")

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq = seq + 1
        return seq

    async def _submit(self, readings: list[Reading]) -> None:
        async with self._submit_lock:
            await self._window.wait_for_room()
            seq = self._take_seq()
            batch = ReadingBatch(
                seq=seq, source_id=self.source_id, session_id=self.session_id, readings=readings
            )
            self._window.add(seq, PendingBatch(batch))
            self._stats.batches_sent += 1
            self._stats.readings_sent += len(readings)
            assert self._runner is not None
            self._runner.enqueue(seq)

    def _on_ack(self, ack: Ack, requeue_after: RequeueFn) -> None:
        pending = self._window.get(ack.seq)
        if pending is None:
            self._stats.stray_acks += 1
            return
        if is_retry(ack):
            count_retry(ack, self._stats)
            delay = ack.retry_after_ms / 1000 or self._backoff.delay(pending.retries)
            pending.retries += 1
            pending.not_before = time.monotonic() + delay
            requeue_after(delay, ack.seq)
            return
        self._window.settle(ack.seq)
        record_final(ack, pending.batch, self._stats, self._on_rejection)

    async def _linger_loop(self) -> None:
        builder = self._builder
        while True:
            started = builder.started_at
            if started is None:
                self._buffer_started.clear()
                await self._buffer_started.wait()
                continue
            wait = started + self._linger_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            readings = builder.take()
            if readings:
                try:
                    await self._submit(readings)
                except SluiceClientError:
                    return  # raised to the caller by its next send(), flush() or close()

    async def _shutdown(self) -> None:
        self._closed = True
        # Wake anything still waiting for window room or Acks.
        self._window.fail(ClientClosed("the client was closed"))
        if self._runner is not None:
            await self._runner.finish()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._channel is not None:
            await self._channel.close(None)
