"""replay(): log lines through an IngestClient to a scripted server; malformed lines counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from scripted_ingest import ScriptedIngest

from sluice_client import IngestClient
from sluice_client.replay import (
    AccessLogParser,
    Aggregated,
    EtlLogParser,
    LogLines,
    PerLine,
    ReplayStats,
    WindowAggregator,
    replay,
)
from tests.support.logsamples import access_log, etl_log


def received(double: ScriptedIngest) -> list[str]:
    return [r.metric for item in double.received for r in item.batch.readings]


async def test_every_good_line_arrives_and_malformed_ones_are_counted(
    tmp_path: Path, double: ScriptedIngest, target: str
) -> None:
    sample = etl_log(60)
    path = tmp_path / "runs.jsonl"
    path.write_text(sample.text, encoding="utf-8")
    async with IngestClient(target, max_batch_readings=50) as client:
        stats = await replay(LogLines(path), PerLine(EtlLogParser().readings), client)
        assert client.stats.readings_accepted == stats.readings
    metrics = received(double)
    assert metrics.count("etl.success") == sample.good
    assert len(metrics) == stats.readings
    assert stats.lines == sample.good + sample.malformed_total
    assert stats.malformed.by_reason == sample.malformed
    assert len(stats.malformed.examples) == 5
    assert stats.malformed.examples[0].startswith("line 4: ")


async def test_aggregated_replay_sends_windows(
    tmp_path: Path, double: ScriptedIngest, target: str
) -> None:
    sample = access_log(200)
    path = tmp_path / "access.log"
    path.write_text(sample.text)
    converter = Aggregated(AccessLogParser("web-1"), WindowAggregator(10 * 1_000_000_000))
    async with IngestClient(target) as client:
        stats = await replay(LogLines(path), converter, client)
    counts = [
        r.value
        for item in double.received
        for r in item.batch.readings
        if r.metric == "http.request.count"
    ]
    assert sum(counts) + converter.aggregator.late == sample.good
    assert stats.malformed.total == sample.malformed_total


async def test_following_sends_appended_lines_until_stopped(
    tmp_path: Path, double: ScriptedIngest, target: str
) -> None:
    path = tmp_path / "runs.jsonl"
    sample = etl_log(20)
    lines = sample.text.splitlines(keepends=True)
    path.write_text("".join(lines[:10]), encoding="utf-8")
    stop = asyncio.Event()
    stats = ReplayStats()
    async with IngestClient(target, linger_s=0.01) as client:
        task = asyncio.create_task(
            replay(
                LogLines(path, follow=True, poll_interval_s=0.01, stop=stop),
                PerLine(EtlLogParser().readings),
                client,
                stats,
            )
        )
        await double.wait_for(lambda: len(received(double)) > 0)
        with path.open("a", encoding="utf-8") as file:
            file.writelines(lines[10:])
        await double.wait_for(lambda: received(double).count("etl.success") == sample.good)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert stats.lines == len(lines)
    assert stats.malformed.total == sample.malformed_total
