"""POST /v1/ingest through a real HTTP listener on loopback, against test sinks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from sluice.core import reasons
from sluice.core.config.checks import ChecksConfig
from sluice.core.config.ratelimit import BucketConfig, RateLimitConfig, TenantLimits
from sluice.core.errors import Unavailable
from sluice.ops.auth import AuthConfig, TokenConfig
from tests.support.sinks import FailingSink, RecordingSink, readings_after_checks
from tests.unit.frontdoors.httpingest.http_helpers import (
    QUERY_ONLY,
    TOKEN,
    Harness,
    body,
    digest,
    post,
    reading,
    serve,
)


@pytest.fixture
async def recording() -> AsyncIterator[tuple[RecordingSink, Harness]]:
    sink = RecordingSink()
    listener, harness = await serve(sink, http={"max_body_bytes": 4096})
    yield sink, harness
    await listener.shutdown()


async def test_ok_answers_200_with_the_ack(recording: tuple[RecordingSink, Harness]) -> None:
    sink, harness = recording
    response = await post(harness.url, body(reading(), reading("dev-2"), source_id="gw-9"))
    assert response.status_code == 200
    assert response.json() == {
        "seq": "1",
        "status": "ACK_STATUS_OK",
        "accepted": 2,
        "rejections": [],
        "retry_after_ms": 0,
        "reason": "",
    }
    (batch,) = sink.batches
    assert batch.tenant == "default"
    assert batch.source_id == "gw-9"
    assert [r.device_id for r in readings_after_checks(batch)] == ["dev-1", "dev-2"]
    assert harness.requests(200) == 1


async def test_partial_lists_the_rejections(recording: tuple[RecordingSink, Harness]) -> None:
    _, harness = recording
    response = await post(harness.url, body(reading(), reading("bad id")))
    assert response.status_code == 200
    ack = response.json()
    assert (ack["status"], ack["accepted"]) == ("ACK_STATUS_PARTIAL", 1)
    assert [(r["index"], r["reason"]) for r in ack["rejections"]] == [
        (1, reasons.DEVICE_ID_INVALID)
    ]


async def test_rejected_is_422(recording: tuple[RecordingSink, Harness]) -> None:
    _, harness = recording
    response = await post(
        harness.url, b'{"readings": [{"device_id": "d", "metric": "m", "value": NaN}]}'
    )
    assert response.status_code == 422
    assert response.json()["reason"] == reasons.NO_VALID_READINGS


async def test_malformed_json_is_400_naming_the_field(
    recording: tuple[RecordingSink, Harness],
) -> None:
    sink, harness = recording
    broken = await post(harness.url, b'{"readings": [')
    assert broken.status_code == 400
    assert broken.json()["error"] == "INVALID_BODY"
    wrong = await post(harness.url, body(reading(value="hot")))
    assert wrong.status_code == 400
    assert wrong.json()["field"] == "readings[0].value"
    assert not sink.batches


async def test_a_body_over_the_limit_is_413_unread(
    recording: tuple[RecordingSink, Harness],
) -> None:
    sink, harness = recording
    big = body(*[reading(f"dev-{n}") for n in range(100)])
    response = await post(harness.url, big)
    assert response.status_code == 413
    assert response.json()["error"] == "BODY_TOO_LARGE"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(10):
            yield b" " * 1000

    async with httpx.AsyncClient(timeout=10) as client:
        streamed = await client.post(harness.url, content=chunks())
    assert streamed.status_code == 413
    assert not sink.batches


async def test_too_many_readings_is_413_with_the_ack() -> None:
    listener, harness = await serve(RecordingSink(), checks=ChecksConfig(max_readings_per_batch=2))
    try:
        response = await post(harness.url, body(reading(), reading(), reading()))
    finally:
        await listener.shutdown()
    assert response.status_code == 413
    assert response.json()["reason"] == reasons.BATCH_TOO_LARGE


async def test_rate_limited_is_429_with_retry_after() -> None:
    limits = RateLimitConfig(
        policy="reject", default=TenantLimits(device_readings=BucketConfig(rate=0.5, burst=1))
    )
    listener, harness = await serve(RecordingSink(), ratelimit=limits)
    try:
        first = await post(harness.url, body(reading()))
        second = await post(harness.url, body(reading()))
    finally:
        await listener.shutdown()
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["reason"] == reasons.RATE_LIMITED_DEVICE
    assert int(second.headers["retry-after"]) >= 1


async def test_unavailable_is_503_with_retry_after() -> None:
    sink = FailingSink(Unavailable(reasons.KAFKA_UNAVAILABLE, "broker down", 2500))
    listener, harness = await serve(sink)
    try:
        response = await post(harness.url, body(reading()))
    finally:
        await listener.shutdown()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.json()["reason"] == reasons.KAFKA_UNAVAILABLE


async def test_the_longest_idempotency_key_fits_the_id_limit(
    recording: tuple[RecordingSink, Harness],
) -> None:
    sink, harness = recording
    key = "k" * 123  # "http:" + key is server.max_id_length (128) characters
    response = await post(harness.url, body(reading()), headers={"Idempotency-Key": key})
    assert response.status_code == 200
    assert sink.batches[0].session_id == "http:" + key


async def test_an_idempotency_key_names_the_batch(
    recording: tuple[RecordingSink, Harness],
) -> None:
    sink, harness = recording
    keyed = {"Idempotency-Key": "order-42"}
    first = await post(harness.url, body(reading()), headers=keyed)
    again = await post(harness.url, body(reading()), headers=keyed)
    other = await post(harness.url, body(reading()), headers={"Idempotency-Key": "order-43"})
    unkeyed = [await post(harness.url, body(reading())) for _ in range(2)]
    assert first.json() == again.json()
    assert [r.status_code for r in (first, again, other, *unkeyed)] == [200] * 5
    sessions = [b.session_id for b in sink.batches]
    assert sessions[:2] == ["http:order-42", "http:order-43"]
    assert len(set(sessions)) == 4, "each unkeyed request is a batch of its own"
    assert {b.seq for b in sink.batches} == {1}


async def test_a_resend_joins_the_copy_in_flight() -> None:
    sink = RecordingSink(hold=True)
    listener, harness = await serve(sink)
    keyed = {"Idempotency-Key": "k-1"}
    try:
        first = asyncio.create_task(post(harness.url, body(reading()), headers=keyed))
        await asyncio.wait_for(sink.wait_for(1), 5)
        second = asyncio.create_task(post(harness.url, body(reading()), headers=keyed))
        await asyncio.sleep(0.2)
        sink.release()
        answers = await asyncio.gather(first, second)
    finally:
        await listener.shutdown()
    assert [a.status_code for a in answers] == [200, 200]
    assert len(sink.batches) == 1


@pytest.mark.parametrize("key", ["", "x" * 124, "with space", "naïve"])
async def test_a_bad_idempotency_key_is_400(
    recording: tuple[RecordingSink, Harness], key: str
) -> None:
    _, harness = recording
    response = await post(harness.url, body(reading()), headers={"Idempotency-Key": key.encode()})
    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"


@pytest.fixture
async def tokens() -> AsyncIterator[tuple[RecordingSink, Harness]]:
    auth = AuthConfig(
        mode="token",
        tokens=(
            TokenConfig(tenant="acme", sha256=digest(TOKEN)),
            TokenConfig(tenant="acme", sha256=digest(QUERY_ONLY), scopes=("query",)),
        ),
    )
    sink = RecordingSink()
    listener, harness = await serve(sink, auth=auth)
    yield sink, harness
    await listener.shutdown()


HEADER_MESSAGES = {
    "missing": "credentials required: send 'authorization: Bearer <token>' header",
    "malformed": "the authorization header must be one 'Bearer <token>'",
}
"""Over HTTP, credentials are a header (gRPC callers are told metadata)."""


@pytest.mark.parametrize(
    ("headers", "code", "reason"),
    [
        ({}, 401, "missing"),
        ({"Authorization": "Bearer wrong"}, 401, "unknown"),
        ({"Authorization": "Basic abc"}, 401, "malformed"),
        ({"Authorization": f"Bearer {QUERY_ONLY}"}, 403, "scope"),
        ({"Authorization": f"Bearer {TOKEN}", "Sluice-Tenant": "other"}, 403, "tenant"),
        ({"Authorization": f"Bearer {TOKEN}"}, 200, None),
    ],
)
async def test_bearer_tokens_as_for_grpc(
    tokens: tuple[RecordingSink, Harness], headers: dict[str, str], code: int, reason: str | None
) -> None:
    sink, harness = tokens
    response = await post(harness.url, body(reading()), headers=headers)
    assert response.status_code == code
    refused = harness.metrics.registry.get_sample_value(
        "sluice_calls_refused_total", {"reason": reason or "missing"}
    )
    assert refused == (1.0 if reason else None)
    if code == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text
        assert "metadata" not in response.json()["message"]
    if reason in HEADER_MESSAGES:
        assert response.json()["message"] == HEADER_MESSAGES[reason]
    assert [b.tenant for b in sink.batches] == (["acme"] if code == 200 else [])


async def test_drain_answers_waiting_requests_then_refuses_new_ones() -> None:
    sink = RecordingSink(hold=True)
    listener, harness = await serve(sink)
    try:
        waiting = asyncio.create_task(post(harness.url, body(reading())))
        await asyncio.wait_for(sink.wait_for(1), 5)
        drained = asyncio.create_task(listener.drain())
        await asyncio.sleep(0.1)
        assert not drained.done(), "drain must wait for requests awaiting their Ack"
        refused = await post(harness.url, body(reading()))
        sink.release()
        await asyncio.wait_for(drained, 5)
        assert (await waiting).status_code == 200
    finally:
        await listener.shutdown()
    assert refused.status_code == 503
    assert refused.json()["reason"] == reasons.DRAINING
    assert len(sink.batches) == 1


async def test_only_post_on_the_ingest_path(recording: tuple[RecordingSink, Harness]) -> None:
    _, harness = recording
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(harness.url)).status_code == 405
        assert (await client.get(harness.url.replace("/v1/ingest", "/metrics"))).status_code == 404
