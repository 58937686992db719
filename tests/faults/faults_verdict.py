"""The verdict of a fault scenario: what Kafka holds against what the gateways had acknowledged.

Consumers drop duplicates by ``(ce_source, ce_id)``. The verdict checks that doing so leaves
every acknowledged reading exactly once, counts the duplicates it dropped, and counts the
acknowledged readings that are missing: the lost ones.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from sluice.v1.ingest_pb2 import ReadingBatch
from tests.support.brokers import consume_records, headers_of
from tests.support.servers import SluiceServer

CONSUME_TIMEOUT_S = 60.0
SETTLE_S = 1.0


@dataclass
class Verdict:
    """One scenario's numbers, as the summary reports them."""

    scenario: str
    readings_acknowledged: int
    records_consumed: int
    duplicate_records: int
    duplicate_readings: int
    lost: int
    lost_to_injected_corruption: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """For the JSON summary."""
        return asdict(self)


def rids_of(value: bytes) -> list[str]:
    """The reading identities in one readings record."""
    return [reading.tags["rid"] for reading in ReadingBatch.FromString(value).readings]


def judge(
    scenario: str,
    bootstrap: str,
    topic: str,
    acknowledged: set[str],
    min_records: int,
    destroyed: Collection[str] = (),
) -> Verdict:
    """Read ``topic`` and compare. ``destroyed`` are readings whose spool records the test
    itself corrupted: they are expected missing, and counted apart from the lost."""
    destroyed = set(destroyed)
    records = consume_records(
        bootstrap, topic, min_records=min_records, timeout_s=CONSUME_TIMEOUT_S, settle_s=SETTLE_S
    )
    first: dict[tuple[str, str], bytes] = {}
    received: dict[tuple[str, str], str] = {}
    kept: Counter[str] = Counter()
    duplicate_records = duplicate_readings = resent = 0
    for record in records:
        headers = headers_of(record)
        key = (headers["ce_source"], headers["ce_id"])
        value = record.value()
        assert value is not None
        if key in first:
            assert value == first[key], f"{key} names two different records"
            duplicate_records += 1
            duplicate_readings += len(rids_of(value))
            # A gateway's resend is received again (a new ce_time); a replay is a copy.
            resent += headers["ce_time"] != received[key]
            continue
        first[key] = value
        received[key] = headers["ce_time"]
        kept.update(rids_of(value))
    repeated = [rid for rid, times in kept.items() if times > 1]
    assert not repeated, f"readings under two (ce_source, ce_id) names: {repeated[:10]}"
    found = set(kept)
    unknown = sorted(found - acknowledged - destroyed)
    assert not unknown, f"readings nobody acknowledged: {unknown[:10]}"
    assert not found & destroyed, "a reading from a corrupted spool record reached Kafka"
    return Verdict(
        scenario=scenario,
        readings_acknowledged=len(acknowledged),
        records_consumed=len(records),
        duplicate_records=duplicate_records,
        duplicate_readings=duplicate_readings,
        lost=len(acknowledged - destroyed - found),
        lost_to_injected_corruption=len(destroyed),
        notes={"duplicate_records_resent_by_gateways": resent},
    )


def metric(server: SluiceServer, name: str) -> float:
    """The sum of the samples of ``name`` (all labels, all workers) on ``server``'s /metrics."""
    total = 0.0
    for line in server.metrics_text().splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` (in a thread: it may block) until it holds, while the gateways keep
    streaming; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
