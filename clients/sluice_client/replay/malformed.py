"""Lines a parser cannot use: counted by reason and reported, never fatal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sluice_client.timestamps import TimestampError, datetime_to_unix_nano

MAX_EXAMPLES = 5
MAX_EXAMPLE_CHARS = 200


class MalformedLine(ValueError):
    """A line that is not a record of the expected format; ``reason`` is a short code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def line_time(moment: datetime, written: str) -> int:
    """``time_unix_nano`` of a line's aware ``moment`` (``written`` as the line has it);
    ``MalformedLine("time")`` when it is outside int64 nanoseconds."""
    try:
        return datetime_to_unix_nano(moment)
    except TimestampError as exc:
        raise MalformedLine("time", f"time {written!r}: {exc}") from None


@dataclass(slots=True)
class MalformedReport:
    """Malformed lines by reason, with the first few as examples (line number and why)."""

    by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Malformed lines so far."""
        return sum(self.by_reason.values())

    def add(self, line_number: int, error: MalformedLine) -> None:
        """Count one malformed line."""
        self.by_reason[error.reason] = self.by_reason.get(error.reason, 0) + 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"line {line_number}: {error.message}"[:MAX_EXAMPLE_CHARS])
