"""The checkpoint of a connector: the last position fetched, kept across restarts.

One JSON file per connector (``{state_dir}/{name}.checkpoint.json``), replaced atomically:
written to a temporary file in the same directory, synced, renamed over the old one, and
the directory synced, so a crash leaves the old checkpoint or the new one, never a torn one.
A checkpoint that cannot be read is an error, not a fresh start: starting over would fetch
and send everything again.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

Cursor = str | int | float | None


class CheckpointError(Exception):
    """The checkpoint file exists but cannot be used."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a connector stands."""

    cursor: Cursor
    """The largest item cursor sent and acknowledged; None before the first."""
    spec_version: int
    updated_at: float
    """When it was written, seconds since the epoch."""
    polls: int
    """Successful polls so far."""


class CheckpointStore:
    """Loads and saves one connector's checkpoint."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / f"{name}.checkpoint.json"

    def load(self) -> Checkpoint | None:
        """The saved checkpoint, or None when there is none yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"{self.path}: cannot read it: {exc.strerror}") from None
        try:
            data: dict[str, Any] = json.loads(text)
            checkpoint = Checkpoint(**data)
        except (ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{self.path}: not a checkpoint ({exc}); fix or remove it"
            ) from None
        if checkpoint.cursor is not None and not isinstance(checkpoint.cursor, str | int | float):
            raise CheckpointError(f"{self.path}: the cursor is not a string or a number")
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint atomically (see the module docstring)."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(asdict(checkpoint), file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
