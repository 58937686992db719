"""The checkpoint file: round trip, atomic replacement, and refusing a corrupt one."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice_client.connect import Checkpoint, CheckpointError, CheckpointStore


def test_nothing_saved_yet(tmp_path: Path) -> None:
    assert CheckpointStore(tmp_path, "weather").load() is None


@pytest.mark.parametrize("cursor", ["2024-06-01T12:05:00Z", 42, 4.5, None])
def test_a_checkpoint_survives_a_new_store(tmp_path: Path, cursor: str | float | None) -> None:
    saved = Checkpoint(cursor, 2, 1_717_243_200.5, 7)
    CheckpointStore(tmp_path / "state", "weather").save(saved)
    assert CheckpointStore(tmp_path / "state", "weather").load() == saved


def test_saving_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "weather")
    store.save(Checkpoint("a", 1, 1.0, 1))
    store.save(Checkpoint("b", 1, 2.0, 2))
    assert [p.name for p in tmp_path.iterdir()] == ["weather.checkpoint.json"]
    assert store.load() == Checkpoint("b", 1, 2.0, 2)


@pytest.mark.parametrize(
    "text",
    [
        '{"cursor": "a"',
        '{"cursor": [1], "spec_version": 1, "updated_at": 1, "polls": 1}',
        "[]",
        '{"unknown": 1}',
    ],
)
def test_a_corrupt_checkpoint_is_refused_not_reset(tmp_path: Path, text: str) -> None:
    store = CheckpointStore(tmp_path, "weather")
    store.path.write_text(text)
    with pytest.raises(CheckpointError, match=r"weather\.checkpoint\.json"):
        store.load()
