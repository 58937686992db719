"""Admission: from the raw bytes of one request to an Ack, through the pipeline.

This is the per-batch path shared by ``Ingest.Stream`` and ``Ingest.Push``:

1. charge the tenant's byte bucket, before parsing, so a flood of garbage is limited too;
2. walk it in C, or parse it with upb when it is not plainly encoded (an undecodable
   message is a stream-level error);
3. answer a batch this process has already acknowledged from memory, or join the copy of it
   that is still in flight, so a resend is never produced twice;
4. take room in the bounded in-flight budget, waiting at most ``backpressure_timeout_s``;
5. hand the batch to the pipeline and call ``on_ack`` once it is durable, or refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial

from google.protobuf.message import DecodeError
from opentelemetry import trace
from opentelemetry.trace import Span

from sluice.core import reasons
from sluice.core._wire import WireBatch, walk
from sluice.core.batch import HANDED_ON, Batch, reading_count
from sluice.core.config.server import ServerConfig
from sluice.core.errors import BatchRejected, RateLimited, Unavailable
from sluice.frontdoors.receiver.acks import (
    FINAL_STATUSES,
    STATUS_NAMES,
    ack_for_batch,
    ack_for_error,
    undecodable,
)
from sluice.frontdoors.receiver.budget import InflightBudget
from sluice.frontdoors.receiver.dedup import AckCache, AckKey
from sluice.ops.metrics import Metrics
from sluice.ops.tracing import new_traceparent, spans_unread, traceparent_of
from sluice.stages.ratelimit.limiter import RateLimiter
from sluice.stages.stage import Stage
from sluice.v1.ingest_pb2 import Ack, AckStatus, ReadingBatch

log = logging.getLogger(__name__)
tracer = trace.get_tracer("sluice.receiver")

AckCallback = Callable[[Ack], None]
OVERLOADED_RETRY_AFTER_MS = 1000
REFUSED_STATUSES = frozenset({AckStatus.ACK_STATUS_REJECTED, AckStatus.ACK_STATUS_RATE_LIMITED})


class Admission:
    """Admits raw requests into the pipeline and reports each one's Ack exactly once.

    An admission serves the one event loop it first admits a batch on.
    """

    def __init__(
        self,
        head: Stage,
        limiter: RateLimiter,
        budget: InflightBudget,
        ack_cache: AckCache,
        config: ServerConfig,
        metrics: Metrics,
    ) -> None:
        self._head = head
        self._limiter = limiter
        self._limits_bytes = limiter.limits_bytes  # fixed by the configuration
        self._budget = budget
        self._ack_cache = ack_cache
        self._timeout = config.backpressure_timeout_s
        self._max_id_length = config.max_id_length
        self._hot = metrics.hot
        self._spans_unread = spans_unread()
        self._loop: asyncio.AbstractEventLoop | None = None
        """The event loop this admission serves, from its first batch on."""
        self._batches = metrics.tallies.by_label(metrics.batches, "status")
        self._refused_readings = metrics.tallies.by_label(metrics.readings_rejected, "reason")

    async def submit(
        self,
        tenant: str,
        raw: bytes,
        on_ack: AckCallback,
        traceparent: str = "",
        *,
        resendable: bool = True,
    ) -> None:
        """Take one request. ``on_ack`` is called once with its Ack, possibly later.

        ``traceparent`` is the caller's trace context, for when no span is made per batch.
        ``resendable=False`` says that no client can send this batch again under its name
        (an HTTP request without an Idempotency-Key, named by a fresh random session): it is
        neither remembered nor joined, so it takes no room from batches that can be resent.

        Raises ``StreamError`` when ``raw`` is not a ReadingBatch.
        """
        try:
            if self._limits_bytes:
                await self._limiter.admit_bytes(tenant, len(raw))
        except RateLimited as limited:
            self._answer(on_ack, ack_for_error(self._parse(raw).seq, limited), 0)
            return
        parsed = walk(raw) or self._parse(raw)
        count = reading_count(parsed)
        self._hot.readings_received.add(count)
        max_id = self._max_id_length
        if len(parsed.session_id) > max_id or len(parsed.source_id) > max_id:
            self._answer(on_ack, ack_for_error(parsed.seq, self._id_too_long(parsed)), count)
            return

        acks = self._ack_cache
        key = acks.key_for(tenant, parsed.session_id, parsed.seq) if resendable else None
        if key is not None:
            cached = acks.get(key, parsed.seq)
            if cached is not None:
                on_ack(cached)
                return
            if acks.join(key, on_ack):
                return

        size = len(raw)
        budget = self._budget
        if not budget.try_acquire(size, count) and not await budget.acquire(
            size, count, self._timeout
        ):
            overloaded = Unavailable(
                reasons.OVERLOADED,
                f"the server's in-flight queue stayed full for {self._timeout:g}s",
                OVERLOADED_RETRY_AFTER_MS,
            )
            self._answer(on_ack, ack_for_error(parsed.seq, overloaded), count)
            return

        loop = self._loop
        if loop is None:  # asked once: asking costs a system call (getpid) every time
            loop = self._loop = asyncio.get_running_loop()
        # Unread spans are not made per batch: the call's trace context is enough.
        span = None if self._spans_unread else tracer.start_span("sluice.batch")
        if span is not None:
            traceparent = traceparent_of(span)
        elif not traceparent:
            traceparent = new_traceparent()
        if span is not None and span.is_recording():
            span.set_attributes(
                {
                    "sluice.tenant": tenant,
                    "sluice.session_id": parsed.session_id,
                    "sluice.seq": parsed.seq,
                    "sluice.readings": count,
                }
            )
        batch = Batch(
            tenant=tenant,
            raw=raw,
            parsed=parsed,
            received_unix_ns=time.time_ns(),
            received_monotonic=time.monotonic(),
            done=loop.create_future(),
            traceparent=traceparent,
        )
        if key is not None:
            acks.begin(key, on_ack)

        # A partial rather than a closure: no cell per captured name, on every batch.
        batch.done.add_done_callback(partial(self._finish, batch, key, on_ack, size, count, span))
        try:
            pushing_back = self._head.consume(batch)
            if pushing_back is not HANDED_ON:
                await pushing_back
        except Exception as error:
            if not batch.done.done():
                batch.done.set_exception(error)

    def _finish(
        self,
        batch: Batch,
        key: AckKey | None,
        on_ack: AckCallback,
        size: int,
        count: int,
        span: Span | None,
        done: asyncio.Future[None],
    ) -> None:
        """``batch.done`` resolved: answer, and give back what the batch held."""
        if done.cancelled():
            error: BaseException | None = Unavailable(
                reasons.DRAINING, "the batch was abandoned", 1000
            )
        else:
            error = done.exception()
        ack = ack_for_batch(batch) if error is None else ack_for_error(batch.seq, error)
        self._budget.release(size, count)
        self._hot.ack_latency.observe(time.monotonic() - batch.received_monotonic)
        if span is not None:
            if span.is_recording():
                status = STATUS_NAMES.get(ack.status, str(ack.status))
                span.set_attribute("sluice.status", status)
            span.end()
        if key is None:
            self._answer(on_ack, ack, count)
            return
        callbacks = self._ack_cache.settle(key, ack, ack.status in FINAL_STATUSES)
        self._count(ack, count)
        for callback in callbacks:
            callback(ack)

    def _answer(self, on_ack: AckCallback, ack: Ack, count: int) -> None:
        self._count(ack, count)
        on_ack(ack)

    def _count(self, ack: Ack, count: int) -> None:
        self._batches.add(STATUS_NAMES.get(ack.status, "UNKNOWN"))
        if ack.accepted:
            self._hot.readings_accepted.add(ack.accepted)
        if ack.status in REFUSED_STATUSES and ack.reason != reasons.NO_VALID_READINGS:
            self._refused_readings.add(ack.reason, count)

    def _id_too_long(self, message: WireBatch | ReadingBatch) -> BatchRejected:
        # Ids outlive the batch (in the dedup cache, in Kafka headers), so they are bounded.
        field, reason = "session_id", reasons.SESSION_ID_INVALID
        if len(message.source_id) > self._max_id_length:
            field, reason = "source_id", reasons.SOURCE_ID_INVALID
        length = len(getattr(message, field))
        return BatchRejected(
            reason,
            f"{field}: is {length} characters, the limit is "
            f"server.max_id_length={self._max_id_length}",
        )

    @staticmethod
    def _parse(raw: bytes) -> ReadingBatch:
        try:
            return ReadingBatch.FromString(raw)
        except DecodeError as exc:
            raise undecodable(str(exc) or "decode error") from None
