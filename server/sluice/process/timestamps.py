"""Recognising the unit of a timestamp by its magnitude (``checks.timestamp_units: auto``).

Now is about 1.7e9 s = 1.7e12 ms = 1.7e15 µs = 1.7e18 ns. The thresholds sit a factor of
~30 below each unit's present-day value and a factor of ~60 above the next smaller unit's:

======================  =============  ===================================
``time_unix_nano``      read as        covers
======================  =============  ===================================
0                       not set        the receipt time is used
below 1e11              seconds        up to the year 5138
1e11 up to 1e14         milliseconds   1973-03-03 up to the year 5138
1e14 up to 1e17         microseconds   1973-03-03 up to the year 5138
1e17 and above          nanoseconds    1973-03-03 onwards
======================  =============  ===================================

So every time from March 1973 until long after int64 nanoseconds run out (2262) is read
correctly, whatever its unit. Negative times count as seconds; they are too old anyway.
The checker inlines this ladder in its loop; ``to_unix_nano`` is the readable reference.
"""

from __future__ import annotations

from typing import Final

SECONDS_BELOW: Final = 10**11
MILLIS_BELOW: Final = 10**14
MICROS_BELOW: Final = 10**17


def to_unix_nano(time: int, receipt_unix_nano: int, auto: bool = True) -> int:
    """``time`` in nanoseconds: 0 becomes the receipt time, and with ``auto`` a value in
    seconds, milliseconds or microseconds is scaled by its magnitude."""
    if time == 0:
        return receipt_unix_nano
    if not auto or time >= MICROS_BELOW:
        return time
    if time < SECONDS_BELOW:
        return time * 1_000_000_000
    if time < MILLIS_BELOW:
        return time * 1_000_000
    return time * 1_000


def unit_of(time: int, auto: bool = True) -> str:
    """The unit ``to_unix_nano`` reads ``time`` in, for messages."""
    if not auto or time >= MICROS_BELOW:
        return "ns"
    if time < SECONDS_BELOW:
        return "s"
    if time < MILLIS_BELOW:
        return "ms"
    return "µs"
