"""A blocking wrapper that runs an IngestClient on an event loop in a background thread."""

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar, Unpack

from sluice.v1.ingest_pb2 import Ack, Reading, ReadingBatch
from sluice_client.client import DEFAULT_CLOSE_TIMEOUT_S, IngestClient
from sluice_client.errors import AckTimeout
from sluice_client.loops import new_event_loop
from sluice_client.options import ClientOptions
from sluice_client.stats import ClientStats

T = TypeVar("T")


class SyncIngestClient:
    """``IngestClient`` for code without an event loop.

    The client runs on its own loop in a daemon thread; each method blocks until the loop has
    done the work. The ``on_rejection`` callback runs on that thread. The constructor connects
    (waiting up to ``connect_timeout_s`` seconds when given); use it as a context manager, or
    call ``close()``.
    """

    def __init__(
        self,
        target: str,
        *,
        connect_timeout_s: float | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._loop = new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sluice-client-loop", daemon=True
        )
        self._thread.start()
        self._closed = False
        try:
            self._client = self._call(self._open(target, connect_timeout_s, options))
        except BaseException:
            self._stop_loop()
            raise

    @property
    def session_id(self) -> str:
        """The session's id, sent with every batch."""
        return self._client.session_id

    @property
    def stats(self) -> ClientStats:
        """A copy of the client's counters."""
        return self._call(self._stats())

    def send(self, reading: Reading) -> None:
        """Buffers one reading; blocks while the window of unacknowledged batches is full."""
        self._call(self._client.send(reading))

    def send_many(self, readings: Iterable[Reading]) -> None:
        """Buffers readings in order; cheaper than ``send()`` per reading."""
        self._call(self._client.send_many(list(readings)))

    def flush(self, timeout: float | None = None) -> None:
        """Sends what is buffered and waits for every outstanding Ack.

        Raises ``AckTimeout`` if ``timeout`` seconds pass first.
        """
        self._call(self._flush(timeout))

    def push(self, batch: ReadingBatch, *, deadline_s: float | None = None) -> Ack:
        """Sends one batch with the unary ``Ingest.Push`` (see ``IngestClient.push``)."""
        return self._call(self._client.push(batch, deadline_s=deadline_s))

    def close(self, ack_timeout_s: float | None = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Flushes, waits for outstanding Acks, closes the channel and stops the thread."""
        if self._closed:
            return
        try:
            self._call(self._client.close(ack_timeout_s))
        finally:
            self._stop_loop()

    def __enter__(self) -> "SyncIngestClient":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @staticmethod
    async def _open(
        target: str, connect_timeout_s: float | None, options: ClientOptions
    ) -> IngestClient:
        client = IngestClient(target, **options)
        await client.start(connect_timeout_s)
        return client

    async def _stats(self) -> ClientStats:
        return self._client.stats

    async def _flush(self, timeout_s: float | None) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await self._client.flush()
        except TimeoutError:
            unacknowledged = self._client.stats.unacknowledged_batches
            raise AckTimeout(unacknowledged, timeout_s or 0.0) from None

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop_loop(self) -> None:
        self._closed = True
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._loop.shutdown_asyncgens(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
