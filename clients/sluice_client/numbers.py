"""Numbers from loosely typed records (JSON values, log fields) for a reading's value."""

from __future__ import annotations

import contextlib
import math


def finite_number(value: object) -> float | None:
    """``value`` as a finite float: a JSON number, or text that reads as one; None for
    anything else (a boolean, a NaN or infinity, an integer beyond any float, other text)."""
    if isinstance(value, bool):  # a bool is an int to Python, never a reading's value
        return None
    number = math.nan
    if isinstance(value, int | float):
        with contextlib.suppress(OverflowError):  # an integer beyond any float
            number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value)
    return number if math.isfinite(number) else None
