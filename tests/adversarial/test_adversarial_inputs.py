"""Hand-picked bad input, case by case: each gets its row of the status table, and the
server keeps answering a valid batch afterwards."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from sluice.core import reasons
from sluice.v1.ingest_pb2 import Ack, AckStatus, Location, Reading, ReadingBatch
from tests.adversarial.campaign import CALL_TIMEOUT_S, check_ack, check_error, count, outcome
from tests.support.ingest import open_channel, reading
from tests.support.servers import SluiceServer

S = AckStatus
MAX_MESSAGE_BYTES = 1024 * 1024
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MEGA = "x" * (512 * 1024)


@pytest.fixture(scope="module")
def server(tansu: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceServer]:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "server": {"max_message_bytes": MAX_MESSAGE_BYTES},
        "checks": {"max_readings_per_batch": 20_000},
    }
    with SluiceServer(config, tmp_path_factory.mktemp("inputs")) as srv:
        yield srv
        assert "Traceback" not in srv.logs()


@pytest.fixture(scope="module")
def channel(server: SluiceServer) -> Iterator[grpc.Channel]:
    with open_channel(server.target) as chan:
        yield chan


def with_field(**fields: Any) -> Reading:
    """A valid reading with ``fields`` replaced."""
    location = fields.pop("location", None)
    result = reading(**{"device_id": "adv-1", **fields})
    if location is not None:
        result.location.CopyFrom(Location(lat=location[0], lon=location[1]))
    return result


def rejected(reason: str) -> Callable[[Ack], None]:
    """The one reading is rejected with ``reason``."""

    def check(ack: Ack) -> None:
        assert (ack.status, ack.reason) == (S.ACK_STATUS_REJECTED, reasons.NO_VALID_READINGS)
        assert [r.reason for r in ack.rejections] == [reason]

    return check


def refused(reason: str) -> Callable[[Ack], None]:
    """The whole batch is refused with ``reason`` and no per-reading rejection."""

    def check(ack: Ack) -> None:
        assert (ack.status, ack.reason, len(ack.rejections)) == (S.ACK_STATUS_REJECTED, reason, 0)

    return check


def accepted(ack: Ack) -> None:
    assert ack.status == S.ACK_STATUS_OK


CASES: list[Any] = [
    ("value NaN", [with_field(value=math.nan)], rejected(reasons.VALUE_NOT_FINITE)),
    ("value +inf", [with_field(value=math.inf)], rejected(reasons.VALUE_NOT_FINITE)),
    ("value -inf", [with_field(value=-math.inf)], rejected(reasons.VALUE_NOT_FINITE)),
    ("value max double", [with_field(value=1.7976931348623157e308)], accepted),
    ("°F overflowing", [with_field(value=1.7e308, unit="°F")], rejected(reasons.VALUE_NOT_FINITE)),
    ("lat NaN", [with_field(location=(math.nan, 0.0))], rejected(reasons.LOCATION_INVALID)),
    ("lon inf", [with_field(location=(0.0, math.inf))], rejected(reasons.LOCATION_INVALID)),
    ("lat 91", [with_field(location=(91.0, 0.0))], rejected(reasons.LOCATION_INVALID)),
    ("empty device_id", [with_field(device_id="")], rejected(reasons.DEVICE_ID_INVALID)),
    ("empty metric", [with_field(metric="")], rejected(reasons.METRIC_INVALID)),
    ("huge device_id", [with_field(device_id=MEGA)], rejected(reasons.DEVICE_ID_INVALID)),
    ("huge metric", [with_field(metric="m" * 100_000)], rejected(reasons.METRIC_INVALID)),
    ("huge unit", [with_field(unit=MEGA)], rejected(reasons.UNIT_UNKNOWN)),
    ("huge tag value", [with_field(tags={"k": MEGA})], rejected(reasons.TAG_INVALID)),
    ("huge tag key", [with_field(tags={MEGA: "v"})], rejected(reasons.TAG_INVALID)),
    ("empty tag key", [with_field(tags={"": "v"})], rejected(reasons.TAG_INVALID)),
    (
        "10k tags",
        [with_field(tags={f"t{i}": "v" for i in range(10_000)})],
        rejected(reasons.TAGS_TOO_MANY),
    ),
    ("NUL in device_id", [with_field(device_id="a\x00b")], rejected(reasons.DEVICE_ID_INVALID)),
    ("time int64 max", [with_field(time_unix_nano=INT64_MAX)], rejected(reasons.TIME_IN_FUTURE)),
    ("time int64 min", [with_field(time_unix_nano=INT64_MIN)], rejected(reasons.TIME_TOO_OLD)),
    ("time -1", [with_field(time_unix_nano=-1)], rejected(reasons.TIME_TOO_OLD)),
    ("time unset", [with_field(time_unix_nano=0)], accepted),
    ("no readings", [], accepted),
    ("20001 readings", [Reading(device_id="d")] * 20_001, refused(reasons.BATCH_TOO_LARGE)),
]


@pytest.mark.parametrize(("readings", "expect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_readings(
    channel: grpc.Channel, readings: list[Reading], expect: Callable[[Ack], None]
) -> None:
    count("hand-written cases")
    message = ReadingBatch(seq=1, session_id=str(uuid.uuid4()), readings=readings)
    ack = push(channel, message)
    expect(ack)
    check_ack(ack, message)
    after = push(channel, ReadingBatch(seq=2, readings=[reading("adv-ok")]))
    assert after.status == S.ACK_STATUS_OK


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (ReadingBatch(seq=1, session_id="s" * 129, readings=[reading()]), "SESSION_ID_INVALID"),
        (ReadingBatch(seq=1, source_id=MEGA, readings=[reading()]), "SOURCE_ID_INVALID"),
    ],
    ids=["session_id 129", "source_id 512k"],
)
def test_ids_beyond_the_limit(channel: grpc.Channel, message: ReadingBatch, reason: str) -> None:
    count("hand-written cases")
    refused(reason)(push(channel, message))


@pytest.mark.parametrize("seq", [0, 2**64 - 1], ids=["seq 0", "seq uint64 max"])
def test_seq_extremes_are_echoed(channel: grpc.Channel, seq: int) -> None:
    count("hand-written cases")
    ack = push(channel, ReadingBatch(seq=seq, session_id=str(uuid.uuid4()), readings=[reading()]))
    assert (ack.seq, ack.status) == (seq, S.ACK_STATUS_OK)


def test_an_oversized_message_is_resource_exhausted(channel: grpc.Channel) -> None:
    count("hand-written cases")
    message = ReadingBatch(seq=1, readings=[with_field(device_id=MEGA), with_field(unit=MEGA)])
    assert message.ByteSize() > MAX_MESSAGE_BYTES
    error = outcome(lambda: push(channel, message))
    assert isinstance(error, grpc.RpcError)
    check_error(error, {grpc.StatusCode.RESOURCE_EXHAUSTED})


def test_an_ack_larger_than_the_message_limit_is_delivered(channel: grpc.Channel) -> None:
    """Rejections echo what they refuse, so an Ack can outgrow server.max_message_bytes."""
    count("hand-written cases")
    bad = Reading(device_id="!" * 64)
    message = ReadingBatch(seq=1, readings=[bad] * 13_000)
    assert message.ByteSize() < MAX_MESSAGE_BYTES
    ack = push(channel, message)
    assert ack.ByteSize() > MAX_MESSAGE_BYTES
    assert {r.reason for r in ack.rejections} == {reasons.DEVICE_ID_INVALID}
    check_ack(ack, message)


def push(channel: grpc.Channel, message: ReadingBatch) -> Ack:
    ack: Ack = channel.unary_unary(
        "/sluice.v1.Ingest/Push",
        request_serializer=ReadingBatch.SerializeToString,
        response_deserializer=Ack.FromString,
    )(message, timeout=CALL_TIMEOUT_S)
    return ack
