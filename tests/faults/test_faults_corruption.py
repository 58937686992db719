"""Fault scenario on disk: a spool with a flipped byte in one record and a torn last record,
found at start-up. The damage is cut out and counted; every other acknowledged reading
reaches Kafka."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from conftest import Summary, server_config
from faults_gateways import Gateways
from faults_verdict import metric, rids_of, wait_until

from sluice.core.batch import Record
from sluice.delivery.spool.frames import HEAD_BYTES
from sluice.delivery.spool.segments import Entry, SegmentLog, segment_name
from sluice.embedded.broker import TansuBroker
from tests.support.servers import SluiceServer

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


def spooled_entries(directory: Path) -> list[Entry]:
    log = SegmentLog(directory, 1 << 30)
    log.open()
    entries, _, _ = log.read(log.first(), 100_000)
    log.close()
    return entries


def flip_a_byte_of(directory: Path, entry: Entry) -> Record:
    path = directory / segment_name(entry.start.segment)
    with path.open("r+b") as segment:
        segment.seek(entry.start.offset + HEAD_BYTES + 20)
        byte = segment.read(1)
        segment.seek(-1, os.SEEK_CUR)
        segment.write(bytes([byte[0] ^ 0xFF]))
    return entry.record


def tear_the_end_of(directory: Path, entry: Entry) -> Record:
    os.truncate(directory / segment_name(entry.end.segment), entry.end.offset - 10)
    return entry.record


async def test_a_corrupt_spool_segment_at_start_up(
    broker: TansuBroker, topic: str, tmp_path: Path, summary: Summary
) -> None:
    spool_dir = tmp_path / "spool"
    config = server_config(broker.bootstrap, topic, spool_dir)
    first = SluiceServer(config, tmp_path).start()
    try:
        broker.pause()
        gateways = Gateways(first.target, count=4, per_gateway=4_000, rate=1_500)
        await gateways.start()
        await gateways.stream()
        totals = await gateways.close()  # every batch acknowledged: all in the spool
    finally:
        first.kill()
    directory = spool_dir / "worker-0"
    entries = spooled_entries(directory)
    segments = sorted({e.start.segment for e in entries})
    assert len(segments) >= 2
    damaged = [
        flip_a_byte_of(directory, [e for e in entries if e.start.segment == segments[0]][2]),
        tear_the_end_of(directory, entries[-1]),
    ]
    destroyed = {rid for record in damaged for rid in rids_of(record.value)}

    broker.resume()
    second = SluiceServer(config, tmp_path)
    try:
        await asyncio.to_thread(second.start)
        await wait_until(lambda: metric(second, "sluice_spool_bytes") == 0, 30, "the replay")
        corrupt = metric(second, "sluice_spool_corrupt_records_total")
    finally:
        second.stop()

    assert corrupt == 2
    scenario = "spool segment with a flipped byte and a torn tail at start-up"
    verdict = summary.judge(scenario, broker, topic, gateways, totals, destroyed, len(damaged))
    verdict.notes.update(corrupt_records_counted=corrupt, segments=len(segments))
    assert verdict.lost == 0
    assert verdict.lost_to_injected_corruption == len(destroyed) > 0
