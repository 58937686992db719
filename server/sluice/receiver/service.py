"""The ``sluice.v1.Ingest`` service, registered as a generic handler that takes raw bytes.

Requests are not deserialized by grpc: the admission path parses them once, and a batch that
needs no rewriting goes to Kafka as the very bytes the client sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from sluice.auth import NoAuth
from sluice.ops.metrics import Metrics
from sluice.receiver.acks import StreamError
from sluice.receiver.admission import Admission
from sluice.receiver.config import ServerConfig
from sluice.receiver.stream import StreamSession
from sluice.v1.ingest_pb2 import DESCRIPTOR, Ack

SERVICE_NAME = DESCRIPTOR.services_by_name["Ingest"].full_name


class IngestService:
    """Serves ``Ingest.Stream`` and ``Ingest.Push``, and drains its streams on demand."""

    def __init__(
        self, admission: Admission, auth: NoAuth, config: ServerConfig, metrics: Metrics
    ) -> None:
        self._admission = admission
        self._auth = auth
        self._config = config
        self._metrics = metrics
        self._sessions: set[StreamSession] = set()
        self._no_sessions = asyncio.Event()
        self._no_sessions.set()
        self._draining = False

    def generic_handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        """The handler to add to a grpc.aio server."""
        serialize = Ack.SerializeToString
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Stream": grpc.stream_stream_rpc_method_handler(
                    self.stream, response_serializer=serialize
                ),
                "Push": grpc.unary_unary_rpc_method_handler(
                    self.push, response_serializer=serialize
                ),
            },
        )

    async def stream(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Ack]:
        """``Ingest.Stream``: one Ack per batch, pipelined."""
        if self._draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        tenant = self._auth.tenant_for(context.invocation_metadata())
        session = StreamSession(
            context, tenant, self._admission, self._config.inflight_per_stream, self._metrics
        )
        self._sessions.add(session)
        self._no_sessions.clear()
        age = self._config.max_connection_age_s
        timer = asyncio.get_running_loop().call_later(age, session.drain) if age else None
        try:
            async for ack in session.run(requests):
                yield ack
        finally:
            self._sessions.discard(session)
            if not self._sessions:
                self._no_sessions.set()
            if timer is not None:
                timer.cancel()

    async def push(self, raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Ack:
        """``Ingest.Push``: the unary form, answered once the batch is durable."""
        if self._draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        tenant = self._auth.tenant_for(context.invocation_metadata())
        answer: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()

        def on_ack(ack: Ack) -> None:
            if not answer.done():  # the caller may have gone away
                answer.set_result(ack)

        try:
            await self._admission.submit(tenant, raw, on_ack)
        except StreamError as error:
            await context.abort(error.code, error.message)
        return await answer

    async def drain(self) -> None:
        """Stop reading every stream, acknowledge what was read, end them "draining".

        Returns once every stream has ended; bound it with ``asyncio.timeout``.
        """
        self._draining = True
        for session in list(self._sessions):
            session.drain()
        await self._no_sessions.wait()

    @property
    def open_streams(self) -> int:
        """Streams currently being served."""
        return len(self._sessions)
