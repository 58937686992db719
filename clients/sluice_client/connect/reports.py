"""What a connector's polls did: one ``PollReport`` per poll, ``ConnectorStats`` over all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sluice_client.connect.checkpoint import Cursor
from sluice_client.connect.mapping import Drift

MAX_DRIFT_EXAMPLES: Final = 10


@dataclass(slots=True)
class PollReport:
    """What one poll did."""

    ok: bool = True
    error: str = ""
    attempts: int = 0
    items: int = 0
    """Items in the response."""
    seen: int = 0
    """Items at or before the checkpoint, skipped (incremental mode)."""
    skipped: int = 0
    """Items that gave no reading because of drift."""
    readings: int = 0
    drift: dict[str, int] = field(default_factory=dict)
    """Drift by mapping field, e.g. {"mapping.device_id": 3}."""
    examples: list[str] = field(default_factory=list)
    cursor: Cursor = None
    """The checkpoint after the poll."""
    pages: int = 0
    """Pages fetched."""
    more: bool = False
    """The poll stopped at ``source.pagination.max_pages`` with pages left for the next."""

    def add_drift(self, index: int, drift: Drift) -> None:
        """Count one item's drift."""
        self.drift[drift.field] = self.drift.get(drift.field, 0) + 1
        if len(self.examples) < MAX_DRIFT_EXAMPLES:
            self.examples.append(f"item {index}: {drift.field}: {drift.message}")

    def summary(self) -> str:
        """One line for people."""
        if not self.ok:
            return f"poll failed after {self.attempts} attempt(s): {self.error}"
        text = (
            f"{self.items} items, {self.readings} readings, {self.seen} already seen, "
            f"{self.skipped} skipped"
        )
        if self.pages > 1 or self.more:
            text += f"; {self.pages} pages" + (", more left for the next poll" if self.more else "")
        if self.drift:
            text += "; drift: " + ", ".join(f"{k}={v}" for k, v in sorted(self.drift.items()))
        return text + f"; cursor {self.cursor!r}"


@dataclass(slots=True)
class ConnectorStats:
    """Totals over a connector's polls."""

    polls: int = 0
    failed_polls: int = 0
    readings: int = 0
    drift: dict[str, int] = field(default_factory=dict)

    def add(self, report: PollReport) -> None:
        """Count one poll."""
        self.polls += 1
        self.failed_polls += not report.ok
        self.readings += report.readings
        for key, count in report.drift.items():
            self.drift[key] = self.drift.get(key, 0) + count
