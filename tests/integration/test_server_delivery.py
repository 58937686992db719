"""Acks wait for Kafka, and a resent batch is never produced twice by one process."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from sluice.v1.ingest_pb2 import Ack, AckStatus
from tests.support.brokers import consume_records
from tests.support.ingest import batch, reading, stream
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.integration

PAUSE_S = 3.0


def config(bootstrap: str, topic: str) -> dict[str, Any]:
    return {"kafka": {"bootstrap_servers": bootstrap, "topic": topic, "dlq_topic": topic + "-dlq"}}


def stream_in_background(target: str, messages: list[Any]) -> tuple[threading.Thread, list[Ack]]:
    acks: list[Ack] = []
    received_at: list[float] = []

    def run() -> None:
        for ack in stream(target, messages):
            acks.append(ack)
            received_at.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, acks


def test_no_ack_before_the_broker_holds_the_batch(tansu: Any, tmp_path: Path) -> None:
    topic = f"delivery-{uuid.uuid4().hex[:8]}"
    # Without a spool, durable means in Kafka alone (the spool's Acks: tests/faults).
    no_spool = {**config(tansu.bootstrap, topic), "spool": {"enabled": False}}
    with SluiceServer(no_spool, tmp_path) as srv:
        assert stream(srv.target, [batch([reading("warm")], seq=1)])[0].status == 1
        tansu.pause()
        try:
            thread, acks = stream_in_background(
                srv.target, [batch([reading("paused", value=float(i))], seq=i) for i in range(5)]
            )
            time.sleep(PAUSE_S)
            assert acks == [], "an Ack arrived while the broker was stopped"
        finally:
            tansu.resume()
        thread.join(30)
        assert not thread.is_alive()
    assert sorted(a.seq for a in acks) == list(range(5))
    assert all(a.status == AckStatus.ACK_STATUS_OK for a in acks)
    records = consume_records(tansu.bootstrap, topic, min_records=6)
    assert len(records) == 6


def test_a_resent_batch_is_acknowledged_from_memory(tansu: Any, tmp_path: Path) -> None:
    topic = f"dedup-{uuid.uuid4().hex[:8]}"
    session = str(uuid.uuid4())
    original = batch([reading("dup-1"), reading("dup-1", value=-1e12)], seq=42, session_id=session)
    with SluiceServer(
        {**config(tansu.bootstrap, topic), "checks": {"ranges": {"temperature": {"min": -100}}}},
        tmp_path,
    ) as srv:
        (first,) = stream(srv.target, [original])
        (again,) = stream(srv.target, [original])
        # And while the first copy is still in flight: both streams get the same Ack.
        tansu.pause()
        try:
            inflight = batch([reading("dup-2")], seq=43, session_id=session)
            thread_a, acks_a = stream_in_background(srv.target, [inflight])
            time.sleep(0.5)
            thread_b, acks_b = stream_in_background(srv.target, [inflight])
            time.sleep(0.5)
        finally:
            tansu.resume()
        thread_a.join(30)
        thread_b.join(30)
    assert first == again
    assert (first.status, first.accepted) == (AckStatus.ACK_STATUS_PARTIAL, 1)
    assert acks_a == acks_b
    assert acks_a[0].status == AckStatus.ACK_STATUS_OK
    records = consume_records(tansu.bootstrap, topic, min_records=2, settle_s=1.0)
    ids = sorted(dict(r.headers())["ce_id"].decode() for r in records)
    assert ids == [f"{session}:42:0", f"{session}:43:0"]
