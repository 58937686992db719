"""The status table of DESIGN.md, case by case, through the real server and broker."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sluice.core import reasons
from sluice.core.netutil import free_port
from sluice.v1.ingest_pb2 import Ack, AckStatus
from tests.support.brokers import consume_records
from tests.support.ingest import batch, push, reading, stream
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.integration

S = AckStatus


@pytest.fixture(scope="module")
def topics() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"status-{suffix}", f"status-dlq-{suffix}"


@pytest.fixture(scope="module")
def server(tansu: Any, tmp_path_factory: pytest.TempPathFactory, topics: tuple[str, str]) -> Any:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap, "topic": topics[0], "dlq_topic": topics[1]},
        "checks": {"max_readings_per_batch": 50},
        "server": {"max_message_bytes": 64 * 1024},
        "ratelimit": {
            "policy": "reject",
            "tenants": {},
            "default": {"device_readings": {"rate": 1, "burst": 20}},
        },
    }
    with SluiceServer(config, tmp_path_factory.mktemp("status")) as srv:
        yield srv


def one(target: str, readings: list[Any]) -> Ack:
    (ack,) = stream(target, [batch(readings, seq=1)])
    return ack


def test_ok(server: SluiceServer) -> None:
    ack = one(server.target, [reading("ok-1"), reading("ok-1")])
    assert (ack.seq, ack.status, ack.accepted, list(ack.rejections)) == (1, S.ACK_STATUS_OK, 2, [])


def test_partial_names_the_reading_and_the_field(server: SluiceServer) -> None:
    ack = one(server.target, [reading("part-1"), reading("part-1", value=math.inf)])
    assert (ack.status, ack.accepted) == (S.ACK_STATUS_PARTIAL, 1)
    (rejection,) = ack.rejections
    assert (rejection.index, rejection.reason) == (1, reasons.VALUE_NOT_FINITE)
    assert "value" in rejection.message


def test_rejected_when_no_reading_passes_and_failures_go_to_the_dlq(
    server: SluiceServer, tansu: Any, topics: tuple[str, str]
) -> None:
    session = str(uuid.uuid4())
    (ack,) = stream(
        server.target, [batch([reading("bad id"), reading("rej-1", value=math.nan)], 9, session)]
    )
    assert (ack.status, ack.accepted, ack.reason) == (
        S.ACK_STATUS_REJECTED,
        0,
        reasons.NO_VALID_READINGS,
    )
    assert [r.reason for r in ack.rejections] == [
        reasons.DEVICE_ID_INVALID,
        reasons.VALUE_NOT_FINITE,
    ]
    dead = consume_records(tansu.bootstrap, topics[1], min_records=1)
    assert any(dict(r.headers())["sluice_session"] == session.encode() for r in dead)


def test_rejected_batch_too_large_goes_nowhere(server: SluiceServer) -> None:
    ack = one(server.target, [reading("big-1") for _ in range(51)])
    assert (ack.status, ack.accepted, ack.reason) == (
        S.ACK_STATUS_REJECTED,
        0,
        reasons.BATCH_TOO_LARGE,
    )
    assert not ack.rejections


def test_rate_limited_device_is_the_whole_batch(server: SluiceServer) -> None:
    first = one(server.target, [reading("rl-1") for _ in range(20)])
    second = one(server.target, [reading("rl-1"), reading("rl-other")])
    assert first.status == S.ACK_STATUS_OK
    assert (second.status, second.accepted, second.reason) == (
        S.ACK_STATUS_RATE_LIMITED,
        0,
        reasons.RATE_LIMITED_DEVICE,
    )
    assert second.retry_after_ms > 0
    other = one(server.target, [reading("rl-other")])
    assert other.status == S.ACK_STATUS_OK, "one device's bucket must not limit another"


def test_push_answers_like_the_stream(server: SluiceServer) -> None:
    ack = push(server.target, batch([reading("push-1")], seq=5))
    assert (ack.seq, ack.status, ack.accepted) == (5, S.ACK_STATUS_OK, 1)


def raw_stream(target: str, payloads: list[bytes]) -> grpc.RpcError:
    with grpc.insecure_channel(target) as channel:
        method = channel.stream_stream(
            "/sluice.v1.Ingest/Stream",
            request_serializer=lambda b: b,
            response_deserializer=Ack.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            list(method(iter(payloads), timeout=10))
        return caught.value


def test_undecodable_message_ends_the_stream_invalid_argument(server: SluiceServer) -> None:
    error = raw_stream(server.target, [b"\xff\xff\xff\xff not protobuf"])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ReadingBatch" in error.details()


def test_oversized_message_is_resource_exhausted(server: SluiceServer) -> None:
    huge = batch([reading("huge-1", tags={"k": "x" * 200}) for _ in range(400)], seq=1)
    error = raw_stream(server.target, [huge.SerializeToString()])
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert one(server.target, [reading("after-huge")]).status == S.ACK_STATUS_OK


def test_health_and_reflection_are_served(server: SluiceServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service="sluice.v1.Ingest"))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(reflect.ServerReflectionInfo(iter([request])))
        names = {s.name for s in response.list_services_response.service}
        assert "sluice.v1.Ingest" in names


def test_unavailable_when_kafka_cannot_take_the_batch(tmp_path: Path) -> None:
    dead_broker = f"127.0.0.1:{free_port()}"
    config = {
        "kafka": {"bootstrap_servers": dead_broker, "delivery_timeout_ms": 1500},
        "spool": {"enabled": False},  # with a spool the batch is spooled: OK (tests/faults)
    }
    # Kafka down and no spool: the server is live but, rightly, not ready.
    with SluiceServer(config, tmp_path).start(until="/healthz") as srv:
        ack = one(srv.target, [reading("down-1")])
    assert (ack.status, ack.accepted, ack.reason) == (
        S.ACK_STATUS_UNAVAILABLE,
        0,
        reasons.KAFKA_UNAVAILABLE,
    )
    assert ack.retry_after_ms > 0
