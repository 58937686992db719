"""The Ack of a batch as an HTTP response: status code, ``Retry-After`` and JSON body.

| Ack status                      | HTTP                      |
|---------------------------------|---------------------------|
| OK, PARTIAL                     | 200 (PARTIAL lists the rejections) |
| REJECTED                        | 422                       |
| REJECTED with BATCH_TOO_LARGE   | 413                       |
| RATE_LIMITED                    | 429 with ``Retry-After``  |
| UNAVAILABLE                     | 503 with ``Retry-After``  |

The body is the Ack in the protobuf JSON mapping with the proto field names, every field
present: ``{"seq": "1", "status": "ACK_STATUS_PARTIAL", "accepted": 1, "rejections":
[{"index": 1, "reason": "VALUE_NOT_FINITE", "message": "..."}], "retry_after_ms": 0,
"reason": ""}``. Requests refused before they become a batch (400, 401, 403, 413, 415, 404) get
``{"error": CODE, "message": ..., "field": ...}`` instead.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf.json_format import MessageToDict
from starlette.responses import JSONResponse

from sluice.core import reasons
from sluice.frontdoors.receiver.acks import OK, PARTIAL, RATE_LIMITED, REJECTED, UNAVAILABLE
from sluice.v1.ingest_pb2 import Ack

STATUS_CODES = {OK: 200, PARTIAL: 200, REJECTED: 422, RATE_LIMITED: 429, UNAVAILABLE: 503}
TOO_LARGE = 413
DEFAULT_RETRY_AFTER_S = 1


def http_status(ack: Ack) -> int:
    """The HTTP status code of ``ack``."""
    if ack.status == REJECTED and ack.reason == reasons.BATCH_TOO_LARGE:
        return TOO_LARGE
    return STATUS_CODES.get(ack.status, 500)


def retry_after_s(ack: Ack) -> int:
    """Whole seconds to wait before a resend: ``retry_after_ms`` rounded up, at least 1."""
    return max(DEFAULT_RETRY_AFTER_S, math.ceil(ack.retry_after_ms / 1000))


def ack_json(ack: Ack) -> dict[str, Any]:
    """``ack`` in the protobuf JSON mapping, every field present."""
    return MessageToDict(
        ack, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def ack_response(ack: Ack) -> JSONResponse:
    """The HTTP response of a batch's Ack."""
    status = http_status(ack)
    headers = {}
    if ack.status in (RATE_LIMITED, UNAVAILABLE):
        headers["Retry-After"] = str(retry_after_s(ack))
    return JSONResponse(ack_json(ack), status_code=status, headers=headers)


def error_response(
    status: int, code: str, message: str, field: str = "", headers: dict[str, str] | None = None
) -> JSONResponse:
    """The response of a request refused before it became a batch."""
    body: dict[str, str] = {"error": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)
