"""A connector's polls: incremental cursors, the checkpoint across restarts, drift reports."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from connect_helpers import FakeClock, ListSink, ScriptedSource, observation, observations, spec

from sluice_client.connect import (
    CheckpointStore,
    Connector,
    ConnectorSpec,
    PollReport,
    cursor_key,
)


class Harness:
    def __init__(
        self, tmp_path: Path, source: ScriptedSource, connector_spec: ConnectorSpec
    ) -> None:
        self.tmp_path = tmp_path
        self.source = source
        self.spec = connector_spec
        self.sink = ListSink()

    async def poll(self, polls: int = 1) -> list[PollReport]:
        """A fresh Connector (as after a restart) polling ``polls`` times."""
        async with self.source.client() as http:
            connector = Connector(
                self.spec, self.sink, http, CheckpointStore(self.tmp_path, "w"), clock=FakeClock()
            )
            return [await connector.poll_once() for _ in range(polls)]


async def test_incremental_polls_ask_since_the_checkpoint_and_skip_what_was_sent(
    tmp_path: Path,
) -> None:
    source = ScriptedSource(
        observations(observation(1), observation(2)),
        observations(observation(2), observation(3)),  # the API's since is inclusive
    )
    harness = Harness(tmp_path, source, spec())
    first, second = await harness.poll(2)
    assert "since" not in source.requests[0].url.params
    assert source.requests[1].url.params["since"] == "2024-06-01T12:02:00Z"
    assert (first.readings, first.cursor) == (4, "2024-06-01T12:02:00Z")
    assert (second.seen, second.readings, second.cursor) == (1, 2, "2024-06-01T12:03:00Z")
    assert harness.sink.flushes == 2


async def test_a_restart_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    source = ScriptedSource(observations(observation(1), observation(5)))
    harness = Harness(tmp_path, source, spec())
    await harness.poll()
    source.script = [observations(observation(5), observation(6))]
    (report,) = await harness.poll()  # a new Connector reads the checkpoint file
    assert source.requests[1].url.params["since"] == "2024-06-01T12:05:00Z"
    assert (report.seen, report.cursor) == (1, "2024-06-01T12:06:00Z")
    assert len(harness.sink.readings) == 6


async def test_a_failed_poll_keeps_the_checkpoint(tmp_path: Path) -> None:
    source = ScriptedSource(observations(observation(1)))
    harness = Harness(tmp_path, source, spec(retries=1))
    await harness.poll()
    source.script = [httpx.Response(500)]
    (report,) = await harness.poll()
    assert not report.ok
    assert report.attempts == 2
    checkpoint = CheckpointStore(tmp_path, "w").load()
    assert checkpoint is not None
    assert checkpoint.cursor == "2024-06-01T12:01:00Z"


async def test_full_mode_takes_everything_every_time(tmp_path: Path) -> None:
    document_changes = {"mode": "full"}
    harness = Harness(
        tmp_path,
        ScriptedSource(observations(observation(1), observation(2))),
        spec(**document_changes),
    )
    await harness.poll(2)
    assert len(harness.sink.readings) == 8
    assert "since" not in harness.source.requests[1].url.params


async def test_drift_is_reported_per_item_and_field(tmp_path: Path) -> None:
    source = ScriptedSource(
        observations(
            observation(1),
            observation(2, station={"name": "no id"}),
            observation(3, temperature="n/a"),
            observation(4, observed_at=...),
        )
    )
    harness = Harness(tmp_path, source, spec())
    (report,) = await harness.poll()
    assert report.drift == {
        "mapping.device_id": 1,
        "mapping.values.temperature": 1,
        "mapping.timestamp": 1,
    }
    assert report.skipped == 2
    assert report.readings == 3
    assert report.examples[0].startswith("item 1: mapping.device_id: no match for $.station.id")


async def test_a_renamed_item_list_is_drift_not_an_empty_poll(tmp_path: Path) -> None:
    renamed = httpx.Response(200, json={"results": [observation(1)]})
    harness = Harness(tmp_path, ScriptedSource(renamed), spec())
    (report,) = await harness.poll()
    assert report.drift == {"mapping.items": 1}
    assert report.cursor is None


@pytest.mark.parametrize(
    ("older", "newer"),
    [(1, 2), (9, 10.5), ("2024-06-01T12:00:00+02:00", "2024-06-01T11:00:00Z"), ("a-1", "a-2")],
)
def test_cursors_compare_by_kind(older: str | float, newer: str | float) -> None:
    assert cursor_key(older) < cursor_key(newer)
