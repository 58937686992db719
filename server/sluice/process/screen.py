"""Screening a whole batch: which readings the per-reading code must look at, and how.

``BatchScreen.screen`` returns the suspects (indices of the readings that might fail a check
or need a rewrite), each with the plan of its template, or None when every reading must be
checked one by one. Every other reading is proven to pass every check unchanged. The proof
is exact, never a heuristic: a suspect may turn out fine, but a reading left out cannot fail.

How (the views are in ``columns.py``, the plans in ``plans.py``):

1. Each reading's template gets a plan, cached per template, so most readings cost one set
   lookup. A reading whose template has no plan (a static check fails) or a plan that
   rewrites something is a suspect.
2. The rest have *plain* templates: they pass unchanged when their value is finite (and in
   range) and their time within the bounds and in ns. Every time and value occurrence of the
   batch is checked at once from the columns: a reading's time is one of its occurrences
   (its plain template says it has one), and its value is one of its occurrences or 0.0.
   When an occurrence is out of bounds, or value ranges are configured, each reading's
   exact time and value are read, and the plain readings out of bounds become suspects too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from sluice.process.columns import ColumnsBatch, exact_times_and_values, templates
from sluice.process.plans import Plan

CACHE_LIMIT: Final = 65_536
"""Templates the plan cache holds before it starts over."""
UNBOUNDED: Final = (float("-inf"), float("inf"))

Screened = tuple[list[int], list[Plan | None]]
"""The suspects in index order, and the plan of each (None: check it fully)."""


class BatchScreen:
    """Finds the readings of a batch that need a look of their own.

    ``plan_for(template)`` gives the plan of a template, or None when its readings fail a
    static check; it is asked once per template until ``forget()``.
    """

    def __init__(self, plan_for: Callable[[bytes], Plan | None]) -> None:
        self._plan_for = plan_for
        self._plans: dict[bytes, Plan | None] = {}
        self._plain: dict[bytes, Plan] = {}
        self._bounded = False
        """True once a plain template has finite value bounds: values need their ranges."""

    def forget(self) -> None:
        """Drop every cached plan (e.g. when the device registry changes)."""
        self._plans.clear()
        self._plain.clear()
        self._bounded = False

    def screen(self, raw: bytes, count: int, lowest: int, highest: int) -> Screened | None:
        """The suspects among the ``count`` readings of ``raw``, or None to check every
        reading. Times must be within ``lowest``..``highest`` to pass unchanged."""
        shapes = templates(raw)
        if len(shapes) != count:
            return None
        plain = self._plain
        suspects: list[int] = []
        odd = set(shapes).difference(plain)
        if odd:
            new = odd.difference(self._plans)
            if new:
                self._learn(new)  # which may have started the caches over: look again
                odd = set(shapes).difference(plain)
            if odd:
                suspects = [index for index, shape in enumerate(shapes) if shape in odd]
        columns = ColumnsBatch.FromString(raw).readings
        times = list(columns.time_unix_nano)
        total = sum(columns.value)
        if (
            self._bounded
            or total - total != 0.0
            or (times and (min(times) < lowest or max(times) > highest))
        ):
            outliers = self._outliers(raw, shapes, suspects, lowest, highest)
            if outliers is None:
                return None
            if outliers:
                suspects = sorted({*suspects, *outliers})
        plans = self._plans
        return suspects, [plans.get(shapes[index]) for index in suspects]

    def _learn(self, shapes: set[bytes]) -> None:
        """Plan the templates ``shapes``, not seen before."""
        plans, plain = self._plans, self._plain
        for shape in shapes:
            plan = self._plan_for(shape)
            if len(plans) >= CACHE_LIMIT:
                plans.clear()
                plain.clear()
            plans[shape] = plan
            if plan is not None and plan.plain:
                plain[shape] = plan
                if (plan.low, plan.high) != UNBOUNDED:
                    self._bounded = True

    def _outliers(
        self, raw: bytes, shapes: Sequence[bytes], suspects: list[int], lowest: int, highest: int
    ) -> list[int] | None:
        """The plain readings whose own time or value is out of bounds; None when that cannot
        be told (a zero time or value leaves the exact columns unaligned)."""
        times, values = exact_times_and_values(raw)
        count = len(shapes)
        if len(times) != count or len(values) != count:
            return None
        plain = self._plain
        taken = set(suspects)
        outliers = []
        for index, shape in enumerate(shapes):
            if index in taken:
                continue
            plan = plain[shape]
            value = values[index]
            if (
                value - value != 0.0
                or not lowest <= times[index] <= highest
                or not plan.low <= value <= plan.high
            ):
                outliers.append(index)
        return outliers
