"""Bearer tokens through the real server: statuses, scopes, tenants, their buckets, the SDK."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sluice.core import reasons
from sluice.ops.auth import token_digest
from sluice.v1.ingest_pb2 import AckStatus
from sluice_client import CallFailed, IngestClient
from tests.support.brokers import consume_records, headers_of
from tests.support.ingest import batch, open_channel, push, reading, stream
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.integration

ACME = "acme-token-0f3c9a"
ACME_QUERY = "acme-query-token-77d1"
GLOBEX = "globex-token-5b2e41"
EXPIRED = "expired-token-c0ffee"
TOKENS = [
    {"tenant": "acme", "sha256": token_digest(ACME)},
    {"tenant": "acme", "sha256": token_digest(ACME_QUERY), "scopes": ["query"]},
    {"tenant": "globex", "sha256": token_digest(GLOBEX), "scopes": ["ingest", "query"]},
    {"tenant": "globex", "sha256": token_digest(EXPIRED), "expires_at": "2020-01-01T00:00:00Z"},
]
SECRETS = (ACME, ACME_QUERY, GLOBEX, EXPIRED)
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def topic() -> str:
    return f"tokens-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def server(tansu: Any, tmp_path_factory: pytest.TempPathFactory, topic: str) -> Any:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap, "topic": topic},
        "auth": {"mode": "token", "tokens": TOKENS},
        "ratelimit": {"tenants": {"acme": {"readings": {"rate": 0.5, "burst": 10}}}},
        "logging": {"level": "DEBUG"},
    }
    with SluiceServer(config, tmp_path_factory.mktemp("tokens")) as srv:
        yield srv


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def one_batch(device: str = "tok-1", source_id: str = "gw-1") -> Any:
    return batch([reading(device)], seq=1, source_id=source_id)


REFUSALS = [
    pytest.param([], UNAUTHENTICATED, "credentials required", id="missing"),
    pytest.param(bearer("not-a-token"), UNAUTHENTICATED, "not valid", id="unknown"),
    pytest.param([("authorization", f"Basic {ACME}")], UNAUTHENTICATED, "Bearer", id="basic"),
    pytest.param(bearer(EXPIRED), UNAUTHENTICATED, "expired", id="expired"),
    pytest.param(bearer(ACME_QUERY), PERMISSION_DENIED, "'ingest' scope", id="query-only"),
    pytest.param(
        [*bearer(ACME), ("sluice-tenant", "globex")], PERMISSION_DENIED, "'acme'", id="other-tenant"
    ),
]


@pytest.mark.parametrize(("metadata", "code", "words"), REFUSALS)
def test_stream_refusals(
    server: SluiceServer, metadata: list[tuple[str, str]], code: grpc.StatusCode, words: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stream(server.target, [one_batch()], timeout=10, metadata=metadata)
    assert caught.value.code() == code
    assert words in caught.value.details()


@pytest.mark.parametrize(("metadata", "code", "words"), REFUSALS)
def test_push_refusals(
    server: SluiceServer, metadata: list[tuple[str, str]], code: grpc.StatusCode, words: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        push(server.target, one_batch(), timeout=10, metadata=metadata)
    assert caught.value.code() == code
    assert words in caught.value.details()


def test_the_tenant_comes_from_the_token_only(server: SluiceServer, tansu: Any, topic: str) -> None:
    session = str(uuid.uuid4())
    claims = [("tenants/acme", ACME), ("tenants/acme", GLOBEX)]
    for seq, (source_id, token) in enumerate(claims, start=1):
        message = batch([reading("who-1")], seq=seq, session_id=session, source_id=source_id)
        (ack,) = stream(server.target, [message], metadata=bearer(token))
        assert ack.status == AckStatus.ACK_STATUS_OK
    records = consume_records(tansu.bootstrap, topic, min_records=2)
    mine = [headers_of(r) for r in records if headers_of(r)["sluice_session"] == session]
    tenants = {h["sluice_seq"]: h["ce_tenantid"] for h in mine}
    assert tenants == {"1": "acme", "2": "globex"}
    assert all(h["ce_source"].startswith(f"/tenants/{h['ce_tenantid']}/") for h in mine)


def test_one_tenant_exhausting_its_bucket_does_not_limit_another(server: SluiceServer) -> None:
    ten = batch([reading(f"bucket-{i}") for i in range(10)], seq=1)
    statuses = []
    for _ in range(3):  # acme's bucket holds 10 readings and refills at 0.5/s
        (ack,) = stream(server.target, [ten], metadata=bearer(ACME))
        statuses.append((ack.status, ack.reason))
    assert (AckStatus.ACK_STATUS_RATE_LIMITED, reasons.RATE_LIMITED_TENANT) in statuses
    for _ in range(3):
        (other,) = stream(server.target, [ten], metadata=bearer(GLOBEX))
        assert other.status == AckStatus.ACK_STATUS_OK, "acme's bucket limited globex"


def test_health_and_reflection_need_no_token(server: SluiceServer) -> None:
    with open_channel(server.target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="sluice.v1.Ingest"), timeout=5
        )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        (response,) = list(reflect.ServerReflectionInfo(iter([request]), timeout=5))
        assert "sluice.v1.Ingest" in {s.name for s in response.list_services_response.service}


async def test_the_sdk_sends_with_a_token_and_fails_final_without_a_good_one(
    server: SluiceServer,
) -> None:
    async with IngestClient(server.target, token=GLOBEX, source_id="gw-sdk") as client:
        await client.send_many([reading("sdk-1"), reading("sdk-2")])
        await client.flush()
        assert client.stats.readings_accepted == 2
    client = IngestClient(server.target, token="wrong-token")
    await client.start()
    await client.send(reading("sdk-3"))
    with pytest.raises(CallFailed) as caught:
        await client.close(ack_timeout_s=10)
    assert caught.value.code == UNAUTHENTICATED


def test_refusals_are_counted_and_no_token_reaches_the_logs(server: SluiceServer) -> None:
    for token in SECRETS:
        with contextlib.suppress(grpc.RpcError):
            stream(server.target, [one_batch("log-1")], metadata=bearer(token))
        with contextlib.suppress(grpc.RpcError):
            push(server.target, one_batch("log-2"), metadata=bearer(token))
    metrics = server.metrics_text()
    for reason in ("missing", "unknown", "expired", "scope", "tenant"):
        assert f'sluice_calls_refused_total{{reason="{reason}"}}' in metrics
    logs = server.logs()
    assert "call refused" in logs, "refusals are logged (at DEBUG), without the token"
    for secret in SECRETS:
        assert secret not in logs
