"""The public HTTP ingest app: ``POST /v1/ingest``, a JSON batch in, its Ack out.

A request goes through the very path a gRPC batch takes (``Admission.submit``: byte bucket,
dedup, in-flight budget, checks, rate limits, Kafka or the spool) and is answered once the
batch is durable, or refused, with the status table of ``sluice.frontdoors.httpingest.statuses``.

**Batch identity.** A request with ``Idempotency-Key: K`` is the batch ``(session_id =
"http:" + K, seq = 1)`` of the caller's tenant: resending it (after a timeout, a 503, a
dropped connection) is answered from memory with the first Ack and produced once, as a gRPC
resend is, within one worker process and while the Ack is remembered
(``server.dedup_entries``). A different body under the same key gets the first body's Ack and
is not produced. A request without the header gets a fresh random session_id, so every such
request is a batch of its own (and its Kafka ``ce_id`` is unique); as nobody can resend it
under that name, its Ack is not remembered and takes no room in the dedup cache.
"""

from __future__ import annotations

import asyncio
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sluice.core import reasons
from sluice.core.config.http import HttpConfig
from sluice.core.config.server import DEFAULT_MAX_ID_LENGTH
from sluice.core.errors import Unavailable
from sluice.frontdoors.httpingest.body import BodyError, BodyTooLarge, parse_body, to_batch
from sluice.frontdoors.httpingest.encoding import ACCEPTED, UnsupportedEncoding, decode_body
from sluice.frontdoors.httpingest.statuses import ack_response, error_response
from sluice.frontdoors.receiver.acks import StreamError, ack_for_error
from sluice.frontdoors.receiver.admission import Admission
from sluice.ops.auth import Authenticator, AuthError, PermissionDenied
from sluice.ops.metrics import Metrics
from sluice.v1.ingest_pb2 import Ack

INGEST_PATH = "/v1/ingest"
IDEMPOTENCY_HEADER = "idempotency-key"
IDEMPOTENCY_SESSION_PREFIX = "http:"
IDEMPOTENCY_SEQ = 1
MAX_IDEMPOTENCY_KEY_LENGTH = 255
"""The most an Idempotency-Key may have, and less where ``server.max_id_length`` says."""
DRAINING_RETRY_AFTER_MS = 1000


def idempotency_session(key: str | None, max_length: int = MAX_IDEMPOTENCY_KEY_LENGTH) -> str:
    """The session_id of a request: ``http:`` + its Idempotency-Key, or a fresh UUID.

    Raises ``BodyError`` for a key that is empty, longer than ``max_length``, or not visible
    ASCII.
    """
    if key is None:
        return str(uuid.uuid4())
    if not 0 < len(key) <= max_length or not all("!" <= char <= "~" for char in key):
        raise BodyError("Idempotency-Key", f"must be 1 to {max_length} visible ASCII characters")
    return IDEMPOTENCY_SESSION_PREFIX + key


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or ``BodyTooLarge`` as soon as it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class HttpIngestApp:
    """Serves ``POST /v1/ingest`` into ``admission``; ``drain()`` refuses new requests."""

    def __init__(
        self,
        admission: Admission,
        authenticator: Authenticator,
        config: HttpConfig,
        metrics: Metrics,
        max_id_length: int = DEFAULT_MAX_ID_LENGTH,
    ) -> None:
        self._admission = admission
        # The session_id it makes must pass the receiver's id limit (server.max_id_length).
        self._max_key = min(
            MAX_IDEMPOTENCY_KEY_LENGTH, max_id_length - len(IDEMPOTENCY_SESSION_PREFIX)
        )
        self._authenticator = authenticator
        self._config = config
        self._metrics = metrics
        self._requests = metrics.tallies.by_label(metrics.http_requests, "code")
        self._draining = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.app = Starlette(routes=[Route(INGEST_PATH, self.ingest, methods=["POST"])])

    async def ingest(self, request: Request) -> JSONResponse:
        """``POST /v1/ingest``."""
        self._inflight += 1
        self._idle.clear()
        try:
            response = await self._answer(request)
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()
        self._requests.add(str(response.status_code))
        return response

    async def drain(self) -> None:
        """Answer new requests 503 "draining" and wait for those in flight to be answered.

        Bound it with ``asyncio.timeout``.
        """
        self._draining = True
        await self._idle.wait()

    async def _answer(self, request: Request) -> JSONResponse:
        if self._draining:
            draining = Unavailable(reasons.DRAINING, "draining", DRAINING_RETRY_AFTER_MS)
            return ack_response(ack_for_error(0, draining))
        try:
            tenant = self._authenticator.authenticate(request.headers.items(), "ingest").tenant
        except AuthError as refused:
            # Counted with the gRPC refusals, so one alert on credentials covers both.
            self._metrics.calls_refused.labels(reason=refused.reason).inc()
            if isinstance(refused, PermissionDenied):
                return error_response(403, "PERMISSION_DENIED", refused.http_message)
            headers = {"WWW-Authenticate": "Bearer"}
            return error_response(401, "UNAUTHENTICATED", refused.http_message, headers=headers)
        try:
            key = request.headers.get(IDEMPOTENCY_HEADER)
            session_id = idempotency_session(key, self._max_key)
            limit = self._config.max_body_bytes
            raw = await read_body(request, limit)
            body = parse_body(decode_body(raw, request.headers.get("content-encoding"), limit))
            batch = to_batch(body, self._config.default_source_id, session_id, IDEMPOTENCY_SEQ)
        except BodyTooLarge:
            limit = self._config.max_body_bytes
            message = f"the body is over {limit} bytes (http.max_body_bytes), as sent or inflated"
            return error_response(413, "BODY_TOO_LARGE", message)
        except UnsupportedEncoding as unsupported:
            headers = {"Accept-Encoding": ACCEPTED}
            return error_response(415, "UNSUPPORTED_ENCODING", str(unsupported), headers=headers)
        except BodyError as bad:
            return error_response(400, "INVALID_BODY", str(bad), bad.field)
        return await self._submit(tenant, batch.SerializeToString(), resendable=key is not None)

    async def _submit(self, tenant: str, raw: bytes, resendable: bool) -> JSONResponse:
        answer: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()

        def on_ack(ack: Ack) -> None:
            if not answer.done():
                answer.set_result(ack)

        try:
            await self._admission.submit(tenant, raw, on_ack, resendable=resendable)
        except StreamError as error:  # never for a batch serialized here; kept for safety
            return error_response(400, "INVALID_BODY", error.message)
        return ack_response(await answer)
