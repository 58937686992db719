"""A flood of invalid readings: every batch is answered, and the dead-letter topic takes no
more than the tenant's DLQ bucket allows."""

from __future__ import annotations

import time
import uuid
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sluice.core import reasons
from sluice.v1.ingest_pb2 import AckStatus
from tests.adversarial.campaign import check_ack, count
from tests.support.brokers import consume_records, headers_of
from tests.support.ingest import batch, reading, stream
from tests.support.servers import SluiceServer

DLQ_RATE, DLQ_BURST = 2.0, 5.0
BATCHES = 60


def test_the_dlq_cap_holds_under_a_flood_of_invalid_readings(tansu: Any, tmp_path: Any) -> None:
    dlq_topic = f"adv-dlq-{uuid.uuid4().hex[:8]}"
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap, "dlq_topic": dlq_topic},
        "ratelimit": {"dlq": {"rate": DLQ_RATE, "burst": DLQ_BURST}},
    }
    session = str(uuid.uuid4())
    junk = [reading("bad id!"), reading("dev-1", metric="Not A Metric"), reading("d", value=1e999)]
    messages = [batch(junk, seq, session) for seq in range(1, BATCHES + 1)]
    with SluiceServer(config, tmp_path) as server:
        started = time.monotonic()
        acks = stream(server.target, messages)
        elapsed = time.monotonic() - started
        count("invalid batches", BATCHES)
        assert len(acks) == BATCHES
        for ack in acks:
            assert (ack.status, ack.reason) == (
                AckStatus.ACK_STATUS_REJECTED,
                reasons.NO_VALID_READINGS,
            )
            check_ack(ack, messages[ack.seq - 1])
        (ok,) = stream(server.target, [batch([reading("dev-ok")], 1)])
        assert ok.status == AckStatus.ACK_STATUS_OK, "the server stopped serving valid batches"
        refused_dlq = sum(
            item.value
            for family in text_string_to_metric_families(server.metrics_text())
            for item in family.samples
            if item.name == "sluice_rate_limited_total"
            and item.labels == {"scope": "dlq", "action": "reject"}
        )
    dead = consume_records(tansu.bootstrap, dlq_topic, min_records=1)
    mine = [r for r in dead if headers_of(r)["sluice_session"] == session]
    allowed = DLQ_BURST + DLQ_RATE * elapsed + 1
    assert 0 < len(mine) <= allowed < BATCHES
    assert refused_dlq == BATCHES - len(mine)
