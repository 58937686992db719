"""The ``sluice.v1.Ingest`` service, registered as a generic handler that takes raw bytes.

Requests are not deserialized by grpc: the admission path parses them once, and a batch that
needs no rewriting goes to Kafka as the very bytes the client sent.

Every call is authenticated here, once, before anything is read: this is the one place that
maps credentials to a tenant (see ``sluice.ops.auth``). Streams are then counted against
``server.max_streams_per_connection`` (a connection is the call's peer address) and
``server.max_streams``; the health and reflection services are not behind either.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc

from sluice.core.config.server import ServerConfig
from sluice.frontdoors.receiver.acks import TOKEN_EXPIRED, StreamError, refused, too_many_streams
from sluice.frontdoors.receiver.admission import Admission
from sluice.frontdoors.receiver.stream import StreamSession
from sluice.ops.auth import Authenticator, AuthError, Principal
from sluice.ops.metrics import Metrics
from sluice.ops.tracing import call_traceparent
from sluice.v1.ingest_pb2 import DESCRIPTOR, Ack

log = logging.getLogger(__name__)

SERVICE_NAME = DESCRIPTOR.services_by_name["Ingest"].full_name


class IngestService:
    """Serves ``Ingest.Stream`` and ``Ingest.Push``, and drains its streams on demand."""

    def __init__(
        self, admission: Admission, auth: Authenticator, config: ServerConfig, metrics: Metrics
    ) -> None:
        self._admission = admission
        self._auth = auth
        self._config = config
        self._metrics = metrics
        self._sessions: set[StreamSession] = set()
        self._streams_per_peer: Counter[str] = Counter()
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
        principal = await self._authenticate(context)
        config = self._config
        peer = context.peer()
        if self._streams_per_peer[peer] >= config.max_streams_per_connection:
            limit, key = config.max_streams_per_connection, "max_streams_per_connection"
            await self._refuse(context, too_many_streams(limit, key), "streams_per_connection")
        if len(self._sessions) >= config.max_streams:
            await self._refuse(
                context, too_many_streams(config.max_streams, "max_streams"), "streams"
            )
        session = StreamSession(
            context,
            principal.tenant,
            self._admission,
            config.inflight_per_stream,
            self._metrics,
            config.idle_stream_timeout_s,
            call_traceparent(context.invocation_metadata() or ()),
        )
        self._sessions.add(session)
        self._streams_per_peer[peer] += 1
        self._no_sessions.clear()
        timers = self._end_timers(session, principal)
        try:
            async for ack in session.run(requests):
                yield ack
        finally:
            self._sessions.discard(session)
            self._streams_per_peer[peer] -= 1
            if not self._streams_per_peer[peer]:
                del self._streams_per_peer[peer]
            if not self._sessions:
                self._no_sessions.set()
            for timer in timers:
                timer.cancel()

    async def push(self, raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Ack:
        """``Ingest.Push``: the unary form, answered once the batch is durable."""
        if self._draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        tenant = (await self._authenticate(context)).tenant
        answer: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()

        def on_ack(ack: Ack) -> None:
            if not answer.done():  # the caller may have gone away
                answer.set_result(ack)

        try:
            traceparent = call_traceparent(context.invocation_metadata() or ())
            await self._admission.submit(tenant, raw, on_ack, traceparent)
        except StreamError as error:
            await context.abort(error.code, error.message)
        return await answer

    async def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        """The caller, allowed to ingest; or the call ends UNAUTHENTICATED / PERMISSION_DENIED."""
        try:
            return self._auth.authenticate(context.invocation_metadata(), "ingest")
        except AuthError as error:
            await self._refuse(context, refused(error), error.reason)

    async def _refuse(
        self, context: grpc.aio.ServicerContext[Any, Any], error: StreamError, reason: str
    ) -> NoReturn:
        self._metrics.calls_refused.labels(reason=reason).inc()
        log.debug("call refused", extra={"reason": reason, "peer": context.peer()})
        await context.abort(error.code, error.message)
        raise AssertionError("abort returned")  # pragma: no cover - abort always raises

    def _end_timers(
        self, session: StreamSession, principal: Principal
    ) -> list[asyncio.TimerHandle]:
        """Timers that end ``session`` at ``max_connection_age_s`` and when its token expires."""
        loop = asyncio.get_running_loop()
        timers = []
        age = self._config.max_connection_age_s
        if age is not None:
            timers.append(loop.call_later(age, session.drain))
        if principal.expires_at is not None:
            left = (principal.expires_at - datetime.now(UTC)).total_seconds()
            timers.append(loop.call_later(max(left, 0.0), session.end, TOKEN_EXPIRED))
        return timers

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
