"""The purges of librdkafka's queue that are not yet settled, and where their records go.

When the circuit breaker opens, the producer gives back the records librdkafka holds but has
not sent. They are older than anything spooled from then on, so each purge gets a spool
segment reserved at that moment, which sorts (and replays) first. librdkafka reports a
purge in more than one round, not always oldest first, so each record's produce time is
kept, to put the segment in produce order once the purge is settled: once every record
produced before it has had its delivery report.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Purge:
    """One purge: when it happened, its reserved segment, and the produce times of the
    records spilled into that segment, in the order they were spilled."""

    purged_at: float
    segment: int
    produced_at: list[float] = field(default_factory=list)


class PurgeLedger:
    """The unsettled purges, oldest first."""

    def __init__(self) -> None:
        self._purges: list[Purge] = []

    @property
    def unsettled(self) -> bool:
        """True while some purge is not yet settled."""
        return bool(self._purges)

    def purged(self, purged_at: float, segment: int) -> None:
        """A purge at ``purged_at`` took records back; they go to ``segment``."""
        self._purges.append(Purge(purged_at, segment))

    def segment_for(self, produced_at: float) -> int | None:
        """The segment of the first purge that took back a record produced at
        ``produced_at``; None when no purge did (it goes after everything else)."""
        for purge in self._purges:
            if produced_at <= purge.purged_at:
                return purge.segment
        return None

    def spilled(self, segment: int, produced_at: float) -> None:
        """A record produced at ``produced_at`` was appended to ``segment``."""
        for purge in self._purges:
            if purge.segment == segment:
                purge.produced_at.append(produced_at)
                return

    def settled(self, oldest_undelivered_at: float | None) -> int:
        """How many purges (oldest first) are settled, given when the oldest record still
        awaiting its report was produced: all of them once it is newer than the last purge
        or none waits, else none."""
        if not self._purges:
            return 0
        if oldest_undelivered_at is None or oldest_undelivered_at > self._purges[-1].purged_at:
            return len(self._purges)
        return 0

    def head(self, count: int) -> list[Purge]:
        """The first ``count`` purges, oldest first."""
        return self._purges[:count]

    def forget(self, count: int) -> None:
        """Drop the first ``count`` purges once their segments are sealed."""
        del self._purges[:count]
