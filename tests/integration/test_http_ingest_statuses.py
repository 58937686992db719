"""POST /v1/ingest through a real server and a real broker: every status of the HTTP table,
bearer tokens, and an Idempotency-Key resend produced once."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluice.core import reasons
from sluice.core.netutil import free_port
from sluice.v1.ingest_pb2 import ReadingBatch
from tests.support.brokers import consume_records, headers_of
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.integration

TOKEN = "http-ingest-token"
QUERY_TOKEN = "query-only-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def digest(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def http_section() -> dict[str, Any]:
    return {"enabled": True, "listen": f"127.0.0.1:{free_port()}", "max_body_bytes": 16_384}


class Ingest:
    """The HTTP ingest endpoint of a running server."""

    def __init__(self, http: dict[str, Any]) -> None:
        self.url = f"http://{http['listen']}/v1/ingest"

    def post(self, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        headers = BEARER if headers is None else headers
        if isinstance(payload, bytes):
            return httpx.post(self.url, content=payload, headers=headers, timeout=30)
        return httpx.post(self.url, json=payload, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def topic() -> str:
    return f"http-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def ingest(tansu: Any, tmp_path_factory: pytest.TempPathFactory, topic: str) -> Any:
    http = http_section()
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap, "topic": topic},
        "http": http,
        "checks": {"max_readings_per_batch": 50},
        "auth": {
            "mode": "token",
            "tokens": [
                {"tenant": "acme", "sha256": digest(TOKEN)},
                {"tenant": "acme", "sha256": digest(QUERY_TOKEN), "scopes": ["query"]},
            ],
        },
        "ratelimit": {"policy": "reject", "default": {"device_readings": {"rate": 1, "burst": 5}}},
    }
    with SluiceServer(config, tmp_path_factory.mktemp("http")):
        yield Ingest(http)


def reading(device_id: str = "dev-1", value: float = 21.5, **extra: Any) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "metric": "temperature",
        "value": value,
        "unit": "°C",
        "tags": {"zone": "a"},
        **extra,
    }


def test_ok_reaches_kafka_with_the_tenant_of_the_token(
    ingest: Ingest, tansu: Any, topic: str
) -> None:
    epoch_ms = time.time_ns() // 1_000_000 - 1500
    response = ingest.post(
        {
            "source_id": "gw-http",
            "readings": [reading("ok-1", timestamp=epoch_ms), reading("ok-2")],
        },
        headers={**BEARER, "Idempotency-Key": "ok-batch"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "ACK_STATUS_OK"
    assert response.json()["accepted"] == 2
    records = [
        r
        for r in consume_records(tansu.bootstrap, topic, min_records=1)
        if headers_of(r)["ce_id"].startswith("http:ok-batch:1:")
    ]
    (record,) = records
    headers = headers_of(record)
    assert headers["ce_source"] == "/tenants/acme/sources/gw-http"
    batch = ReadingBatch.FromString(record.value())
    assert [r.device_id for r in batch.readings] == ["ok-1", "ok-2"]
    assert batch.readings[0].time_unix_nano == epoch_ms * 1_000_000


def test_partial_is_200_and_lists_the_rejections(ingest: Ingest) -> None:
    response = ingest.post({"readings": [reading("part-1"), reading("bad id")]})
    assert response.status_code == 200
    ack = response.json()
    assert (ack["status"], ack["accepted"]) == ("ACK_STATUS_PARTIAL", 1)
    assert [r["reason"] for r in ack["rejections"]] == [reasons.DEVICE_ID_INVALID]


def test_rejected_is_422(ingest: Ingest) -> None:
    response = ingest.post({"readings": [reading("rej-1", timestamp="2001-01-01T00:00:00Z")]})
    assert response.status_code == 422
    ack = response.json()
    assert (ack["status"], ack["reason"]) == ("ACK_STATUS_REJECTED", reasons.NO_VALID_READINGS)
    assert ack["rejections"][0]["reason"] == reasons.TIME_TOO_OLD


def test_malformed_json_is_400(ingest: Ingest) -> None:
    response = ingest.post(b'{"readings": [{"device_id": "x"')
    assert response.status_code == 400
    wrong = ingest.post({"readings": [reading(value="warm")]})
    assert (wrong.status_code, wrong.json()["field"]) == (400, "readings[0].value")


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        ({"Authorization": f"Bearer {QUERY_TOKEN}"}, 403),
        ({**BEARER, "Sluice-Tenant": "someone-else"}, 403),
    ],
)
def test_credentials_as_for_grpc(ingest: Ingest, headers: dict[str, str], code: int) -> None:
    assert ingest.post({"readings": [reading("auth-1")]}, headers=headers).status_code == code


def test_too_large_is_413(ingest: Ingest) -> None:
    body = ingest.post(
        {"readings": [reading(f"big-{n}", tags={"k": "x" * 200}) for n in range(60)]}
    )
    assert (body.status_code, body.json()["error"]) == (413, "BODY_TOO_LARGE")
    batch = ingest.post({"readings": [reading(f"many-{n}") for n in range(51)]})
    assert (batch.status_code, batch.json()["reason"]) == (413, reasons.BATCH_TOO_LARGE)


def test_rate_limited_is_429_with_retry_after(ingest: Ingest) -> None:
    first = ingest.post({"readings": [reading("rl-1") for _ in range(5)]})
    second = ingest.post({"readings": [reading("rl-1")]})
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["reason"] == reasons.RATE_LIMITED_DEVICE
    assert int(second.headers["Retry-After"]) >= 1


def test_an_idempotency_key_resend_is_produced_once(ingest: Ingest, tansu: Any, topic: str) -> None:
    key = f"order-{uuid.uuid4().hex[:8]}"
    body = {"readings": [reading("idem-1"), reading("idem-2")]}
    answers = [ingest.post(body, headers={**BEARER, "Idempotency-Key": key}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json() == answers[2].json()
    records = consume_records(tansu.bootstrap, topic, min_records=2, settle_s=1.0)
    ids = [headers_of(r)["ce_id"] for r in records]
    assert ids.count(f"http:{key}:1:0") == 1


def test_requests_without_a_key_do_not_push_a_keyed_one_out_of_memory(
    tansu: Any, tmp_path: Path
) -> None:
    # No client can resend a request that has no Idempotency-Key under its name, so such
    # requests take no room in the server's memory of Acks: here two entries, which the
    # three of them would otherwise have filled, evicting the keyed batch.
    topic = f"http-memory-{uuid.uuid4().hex[:8]}"
    http = http_section()
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap, "topic": topic},
        "server": {"dedup_entries": 2},
        "http": http,
    }
    key = f"kept-{uuid.uuid4().hex[:8]}"
    with SluiceServer(config, tmp_path):
        ingest = Ingest(http)
        keyed = {"Idempotency-Key": key}
        first = ingest.post({"readings": [reading("kept-1")]}, headers=keyed)
        unnamed = [ingest.post({"readings": [reading(f"free-{n}")]}, headers={}) for n in range(3)]
        resent = ingest.post({"readings": [reading("kept-1")]}, headers=keyed)
    assert [a.status_code for a in [first, *unnamed, resent]] == [200] * 5
    records = consume_records(tansu.bootstrap, topic, min_records=4, settle_s=1.0)
    ids = [headers_of(r)["ce_id"] for r in records]
    assert ids.count(f"http:{key}:1:0") == 1
    assert len(ids) == 4  # the keyed batch once, and each request without a key


def test_unavailable_is_503_with_retry_after(tmp_path: Path) -> None:
    http = http_section()
    config = {
        "kafka": {"bootstrap_servers": f"127.0.0.1:{free_port()}", "delivery_timeout_ms": 1500},
        "spool": {"enabled": False},  # with a spool the batch would be spooled: 200
        "http": http,
    }
    # Kafka down and no spool: live but, rightly, not ready.
    with SluiceServer(config, tmp_path).start(until="/healthz"):
        response = Ingest(http).post({"readings": [reading("down-1")]}, headers={})
    assert response.status_code == 503
    assert response.json()["reason"] in (reasons.KAFKA_UNAVAILABLE, reasons.DELIVERY_FAILED)
    assert int(response.headers["Retry-After"]) >= 1


def test_a_gzip_body_reaches_kafka_and_a_bomb_is_413(
    ingest: Ingest, tansu: Any, topic: str
) -> None:
    key = f"gzip-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"readings": [reading(f"gz-{n}") for n in range(40)]}).encode()
    packed = gzip.compress(body)
    assert len(packed) < len(body) / 4
    headers = {**BEARER, "Content-Encoding": "gzip", "Idempotency-Key": key}
    response = ingest.post(packed, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 40
    records = [
        r
        for r in consume_records(tansu.bootstrap, topic, min_records=1)
        if headers_of(r)["ce_id"].startswith(f"http:{key}:1:")
    ]
    (record,) = records
    assert len(ReadingBatch.FromString(record.value()).readings) == 40

    bomb = gzip.compress(b" " * 10_000_000)  # under the 16 KiB cap as sent, 10 MB inflated
    assert len(bomb) < 16_384
    refused = ingest.post(bomb, headers={**BEARER, "Content-Encoding": "gzip"})
    assert (refused.status_code, refused.json()["error"]) == (413, "BODY_TOO_LARGE")


def test_an_unsupported_encoding_is_415_with_the_accepted_ones(ingest: Ingest) -> None:
    response = ingest.post(b"\x1b\x00", headers={**BEARER, "Content-Encoding": "br"})
    assert response.status_code == 415
    assert response.json()["error"] == "UNSUPPORTED_ENCODING"
    assert response.headers["Accept-Encoding"] == "gzip, deflate"
    corrupt = ingest.post(b"not gzip", headers={**BEARER, "Content-Encoding": "gzip"})
    assert (corrupt.status_code, corrupt.json()["field"]) == (400, "Content-Encoding")
