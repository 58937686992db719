"""Interval and cron schedules, missed polls skipped, and a connector run on a fake clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from connect_helpers import (
    START,
    FakeClock,
    ListSink,
    ScriptedSource,
    observation,
    observations,
    spec,
)

from sluice_client.connect import CheckpointStore, Connector, CronSchedule, IntervalSchedule
from sluice_client.connect.schedule import next_due


def test_interval_polls_at_once_then_every_interval() -> None:
    schedule = IntervalSchedule(30)
    assert schedule.first(START) == START
    assert schedule.after(START) == START + 30


def test_cron_polls_at_its_times_in_utc() -> None:
    schedule = CronSchedule("*/15 * * * *")  # START is 12:00:00
    assert schedule.first(START) == START + 15 * 60
    assert schedule.after(START + 16 * 60) == START + 30 * 60
    with pytest.raises(ValueError, match="cron"):
        CronSchedule("every minute")


def test_missed_polls_are_skipped_not_burst() -> None:
    schedule = IntervalSchedule(10)
    assert next_due(schedule, START, START + 5) == START + 10
    assert next_due(schedule, START, START + 35) == START + 40


async def test_a_connector_polls_on_its_schedule(tmp_path: Path) -> None:
    clock = FakeClock()
    source = ScriptedSource(observations(observation(1)))
    connector_spec = spec(schedule={"interval": "30s"}, mode="full")
    async with source.client() as http:
        connector = Connector(
            connector_spec, ListSink(), http, CheckpointStore(tmp_path, "w"), clock=clock
        )
        stats = await connector.run(asyncio.Event(), max_polls=4)
    assert stats.polls == 4
    assert clock.sleeps == [30.0, 30.0, 30.0]
    assert clock.now == START + 90


async def test_a_cron_connector_waits_for_its_first_time(tmp_path: Path) -> None:
    clock = FakeClock(START + 60)
    source = ScriptedSource(observations())
    async with source.client() as http:
        connector = Connector(
            spec(schedule={"cron": "0 * * * *"}, mode="full"),
            ListSink(),
            http,
            CheckpointStore(tmp_path, "w"),
            clock=clock,
        )
        await connector.run(asyncio.Event(), max_polls=2)
    assert clock.sleeps == [3540.0, 3600.0]


async def test_stop_ends_the_wait(tmp_path: Path) -> None:
    stop = asyncio.Event()

    class SlowClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            stop.set()
            await asyncio.sleep(3600)

    source = ScriptedSource(observations())
    async with source.client() as http:
        connector = Connector(
            spec(mode="full"), ListSink(), http, CheckpointStore(tmp_path, "w"), clock=SlowClock()
        )
        stats = await asyncio.wait_for(connector.run(stop), 5)
    assert stats.polls == 1
