"""The Ack to HTTP status table, Retry-After and the Ack's JSON form."""

from __future__ import annotations

import json

import pytest

from sluice.core import reasons
from sluice.frontdoors.httpingest.statuses import ack_json, ack_response, http_status
from sluice.v1.ingest_pb2 import Ack, AckStatus, Rejection

S = AckStatus


@pytest.mark.parametrize(
    ("ack", "code", "retry_after"),
    [
        (Ack(status=S.ACK_STATUS_OK, accepted=3), 200, None),
        (Ack(status=S.ACK_STATUS_PARTIAL, accepted=2), 200, None),
        (Ack(status=S.ACK_STATUS_REJECTED, reason=reasons.NO_VALID_READINGS), 422, None),
        (Ack(status=S.ACK_STATUS_REJECTED, reason=reasons.BATCH_TOO_LARGE), 413, None),
        (Ack(status=S.ACK_STATUS_RATE_LIMITED, retry_after_ms=2500), 429, "3"),
        (Ack(status=S.ACK_STATUS_RATE_LIMITED, retry_after_ms=10), 429, "1"),
        (Ack(status=S.ACK_STATUS_UNAVAILABLE, retry_after_ms=1000), 503, "1"),
        (Ack(status=S.ACK_STATUS_UNAVAILABLE), 503, "1"),
    ],
)
def test_status_table(ack: Ack, code: int, retry_after: str | None) -> None:
    response = ack_response(ack)
    assert http_status(ack) == response.status_code == code
    assert response.headers.get("retry-after") == retry_after


def test_the_body_is_the_ack_with_every_field() -> None:
    ack = Ack(
        seq=1,
        status=S.ACK_STATUS_PARTIAL,
        accepted=1,
        rejections=[Rejection(index=1, reason=reasons.VALUE_NOT_FINITE, message="value: nan")],
    )
    assert ack_json(ack) == {
        "seq": "1",
        "status": "ACK_STATUS_PARTIAL",
        "accepted": 1,
        "rejections": [{"index": 1, "reason": "VALUE_NOT_FINITE", "message": "value: nan"}],
        "retry_after_ms": 0,
        "reason": "",
    }
    assert json.loads(bytes(ack_response(ack).body)) == ack_json(ack)
