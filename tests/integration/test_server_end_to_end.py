"""The real server and the real broker: every accepted reading, exactly once, in order."""

from __future__ import annotations

import math
import random
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from sluice.core import reasons
from sluice.v1.ingest_pb2 import AckStatus, ReadingBatch, RejectedBatch
from tests.support.brokers import consume_records
from tests.support.ingest import batch, push, reading, stream
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.integration

OK = AckStatus.ACK_STATUS_OK
PARTIAL = AckStatus.ACK_STATUS_PARTIAL

INVALID_KINDS = {
    reasons.VALUE_NOT_FINITE: lambda r: setattr(r, "value", math.nan),
    reasons.DEVICE_ID_INVALID: lambda r: setattr(r, "device_id", "bad device"),
    reasons.LOCATION_INVALID: lambda r: (r.location.SetInParent(), setattr(r.location, "lat", 91)),
    reasons.TIME_IN_FUTURE: lambda r: setattr(r, "time_unix_nano", time.time_ns() + 10**13),
}


def server_config(bootstrap: str, **kafka: Any) -> dict[str, Any]:
    return {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "topic": kafka.pop("topic"),
            "dlq_topic": kafka.pop("dlq_topic"),
            **kafka,
        }
    }


def fresh_topics() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"readings-{suffix}", f"dlq-{suffix}"


def test_ten_thousand_readings_from_fifty_devices(tansu: Any, tmp_path: Path) -> None:
    topic, dlq = fresh_topics()
    rng = random.Random(7)
    session = str(uuid.uuid4())
    devices = [f"dev-{i:02d}" for i in range(50)]
    counters = dict.fromkeys(devices, 0)
    expected: dict[str, list[int]] = defaultdict(list)  # device -> counters in send order
    invalid: dict[tuple[int, int], str] = {}  # (seq, index) -> reason
    batches = []
    for seq in range(1, 101):
        readings = []
        for index in range(100):
            device = rng.choice(devices)
            counters[device] += 1
            item = reading(device, value=float(counters[device]), tags={"n": str(counters[device])})
            if rng.random() < 0.05:
                reason = rng.choice(sorted(INVALID_KINDS))
                INVALID_KINDS[reason](item)
                invalid[(seq, index)] = reason
            else:
                expected[device].append(counters[device])
            readings.append(item)
        batches.append(batch(readings, seq=seq, session_id=session, source_id="gw-e2e"))

    with SluiceServer(server_config(tansu.bootstrap, topic=topic, dlq_topic=dlq), tmp_path) as srv:
        acks = stream(srv.target, batches)

    assert sorted(ack.seq for ack in acks) == list(range(1, 101))
    by_seq = {ack.seq: ack for ack in acks}
    for message in batches:
        ack = by_seq[message.seq]
        bad = {i: r for (s, i), r in invalid.items() if s == message.seq}
        assert ack.status == (PARTIAL if bad else OK)
        assert ack.accepted == 100 - len(bad)
        assert {(rej.index, rej.reason) for rej in ack.rejections} == set(bad.items())

    total_accepted = sum(ack.accepted for ack in acks)
    records = consume_records(tansu.bootstrap, topic, min_records=100)
    seen: dict[str, list[int]] = defaultdict(list)
    ids = set()
    for record in records:
        headers = {k: v.decode() for k, v in record.headers() or []}
        assert headers["ce_specversion"] == "1.0"
        assert headers["ce_type"] == "sluice.v1.ReadingBatch"
        assert headers["ce_source"] == "/tenants/default/sources/gw-e2e"
        assert headers["ce_tenantid"] == "default"
        assert headers["ce_schemaversion"] == "1"
        assert headers["content-type"] == "application/x-protobuf"
        assert headers["sluice_session"] == session
        assert headers["ce_id"] == f"{session}:{headers['sluice_seq']}:{headers['sluice_part']}"
        assert headers["traceparent"].startswith("00-")
        assert record.key() == b"gw-e2e"
        ids.add(headers["ce_id"])
        value = ReadingBatch.FromString(record.value())
        for item in value.readings:
            seen[item.device_id].append(int(item.tags["n"]))
    assert len(ids) == len(records), "a batch was produced twice"
    assert sum(len(v) for v in seen.values()) == total_accepted
    assert dict(seen) == dict(expected), "readings lost, duplicated or reordered per device"

    dead = consume_records(tansu.bootstrap, dlq, min_records=len({s for s, _ in invalid}))
    dead_letters = {}
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers() or []}
        assert headers["ce_type"] == "sluice.v1.RejectedBatch"
        rejected = RejectedBatch.FromString(record.value())
        for item in rejected.readings:
            dead_letters[(rejected.seq, item.index)] = item.reason
            assert item.message
    assert dead_letters == invalid


def test_json_encoding_and_device_keys(tansu: Any, tmp_path: Path) -> None:
    topic, dlq = fresh_topics()
    config = server_config(
        tansu.bootstrap, topic=topic, dlq_topic=dlq, encoding="json", key="device"
    )
    readings = [reading(f"dev-{i % 3}", value=float(i)) for i in range(9)]
    with SluiceServer(config, tmp_path) as srv:
        (ack,) = stream(srv.target, [batch(readings, seq=1, source_id="gw-json")])
    assert ack.status == OK
    assert ack.accepted == 9
    records = consume_records(tansu.bootstrap, topic, min_records=3)
    assert sorted(r.key() for r in records) == [b"dev-0", b"dev-1", b"dev-2"]
    for record in records:
        headers = {k: v.decode() for k, v in record.headers() or []}
        assert headers["content-type"] == "application/json"
        assert headers["sluice_parts"] == "3"
        value = json_format.Parse(record.value(), ReadingBatch())
        assert {r.device_id for r in value.readings} == {record.key().decode()}
        assert [r.value for r in value.readings] == sorted(r.value for r in value.readings)
        assert b'"time_unix_nano": "' in record.value() or b'"time_unix_nano":"' in record.value()


def test_records_carry_the_callers_trace_context_with_nothing_reading_spans(
    tansu: Any, tmp_path: Path
) -> None:
    """No exporter is configured, so no span is made: the caller's traceparent (Stream and
    Push alike) reaches the records; a call without one starts an unsampled trace."""
    topic = f"trace-{uuid.uuid4().hex[:8]}"
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    session = str(uuid.uuid4())
    config = server_config(tansu.bootstrap, topic=topic, dlq_topic=f"{topic}-dlq")
    with SluiceServer(config, tmp_path) as srv:
        sent = [batch([reading("dev-1")], seq=seq, session_id=session) for seq in (1, 2, 3)]
        stream(srv.target, sent[:2], metadata=(("traceparent", caller),))
        push(srv.target, sent[2], metadata=(("traceparent", caller),))
        stream(srv.target, [batch([reading("dev-1")], seq=1, session_id="untraced")])
    records = consume_records(tansu.bootstrap, topic, min_records=4)
    by_session = defaultdict(list)
    for record in records:
        headers = {k: v.decode() for k, v in record.headers() or []}
        by_session[headers["sluice_session"]].append(headers["traceparent"])
    assert by_session[session] == [caller] * 3
    [untraced] = by_session["untraced"]
    assert untraced.startswith("00-")
    assert untraced.endswith("-00")
    assert untraced.split("-")[1] != caller.split("-")[1]
