"""When a connector polls: every ``interval``, or at the times of a cron expression (UTC).

Time comes from a ``Clock``, so tests run schedules on a fake one without waiting.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

from croniter import croniter


class Clock(Protocol):
    """Wall-clock time and sleeping."""

    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


class Schedule(Protocol):
    """The times a connector polls at."""

    def first(self, now: float) -> float:
        """The first poll's time when started at ``now``."""
        ...

    def after(self, previous: float) -> float:
        """The time of the poll following one due at ``previous``."""
        ...


class IntervalSchedule:
    """At once, then every ``seconds``."""

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("the interval must be positive")
        self._seconds = seconds

    def first(self, now: float) -> float:
        """Now."""
        return now

    def after(self, previous: float) -> float:
        """``previous`` plus the interval."""
        return previous + self._seconds


class CronSchedule:
    """At the times of a five-field cron expression, in UTC."""

    def __init__(self, expression: str) -> None:
        if not croniter.is_valid(expression):
            raise ValueError(f"{expression!r} is not a cron expression")
        self._expression = expression

    def first(self, now: float) -> float:
        """The first cron time after ``now``."""
        return self.after(now)

    def after(self, previous: float) -> float:
        """The first cron time after ``previous``."""
        start = datetime.fromtimestamp(previous, UTC)
        following: float = croniter(self._expression, start).get_next(float)
        return following


def next_due(schedule: Schedule, previous: float, now: float) -> float:
    """The poll after the one due at ``previous``; polls missed while one ran too long (or
    the process slept) are skipped, not run in a burst."""
    due = schedule.after(previous)
    while due < now:
        due = schedule.after(due)
    return due if due >= now else now
