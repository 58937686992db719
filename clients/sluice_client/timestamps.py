"""Timestamps: units recognised by magnitude, and JSON timestamps to ``time_unix_nano``.

**Units by magnitude** (the server's ``checks.timestamp_units: auto``; HTTP ingest; the
connectors). Now is about 1.7e9 s = 1.7e12 ms = 1.7e15 µs = 1.7e18 ns. The thresholds sit
a factor of ~30 below each unit's present-day value and a factor of ~60 above the next
smaller unit's:

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

**JSON timestamps** (HTTP ingest and the polling connectors):

- a string is RFC 3339 with a UTC offset (``2024-06-01T12:00:00.123456789Z``,
  ``2024-06-01 14:00:00+02:00``); fractions keep up to nanosecond precision;
- a number is a Unix epoch whose unit is recognised by its magnitude, as above;
  fractional numbers are allowed (``1718000000.25`` is a quarter second past);
- ``None`` is "not set": 0, which the server replaces with the receipt time.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Final

SECONDS_BELOW: Final = 10**11
MILLIS_BELOW: Final = 10**14
MICROS_BELOW: Final = 10**17
_UNITS: Final = (
    (SECONDS_BELOW, "s", 1_000_000_000),
    (MILLIS_BELOW, "ms", 1_000_000),
    (MICROS_BELOW, "µs", 1_000),
)
INT64_MAX: Final = 2**63 - 1
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def unit_of(value: float) -> tuple[str, int]:
    """The unit a time of this magnitude is in, and its nanoseconds: ``("ms", 1_000_000)``.

    Negative times count as seconds; they are too old anyway.
    """
    for below, name, nanos in _UNITS:
        if value < below:
            return name, nanos
    return "ns", 1


class TimestampError(ValueError):
    """A timestamp that is neither RFC 3339 with an offset nor an epoch number in range."""


def parse_rfc3339(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 date-time with a UTC offset."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise TimestampError(
            f"{text!r} is not an RFC 3339 date-time with an offset, "
            "e.g. 2024-06-01T12:00:00Z or 2024-06-01T14:00:00.5+02:00"
        )
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction, zulu, sign, off_h, off_m = match.group(7, 8, 9, 10, 11)
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError as exc:
        raise TimestampError(f"{text!r} is not a valid date-time: {exc}") from None
    whole = (moment - _EPOCH) // timedelta(seconds=1)
    nanos = int((fraction or "").ljust(9, "0"))
    return check_int64(whole * 1_000_000_000 + nanos)


def epoch_to_unix_nano(value: float) -> int:
    """Nanoseconds of a Unix epoch number, its unit recognised by magnitude; 0 stays 0."""
    # An int is always finite, and may be too large for math.isfinite: check_int64 bounds it.
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise TimestampError(f"{value!r} is not a finite epoch number")
    scale = unit_of(value)[1]
    if isinstance(value, int):
        return check_int64(value * scale)
    # Scaling the shortest decimal form keeps 1718000000.25 exact, where float maths would not.
    return check_int64(round(Decimal(repr(value)) * scale))


def json_time_to_unix_nano(value: object) -> int:
    """``time_unix_nano`` of a JSON timestamp (see the module docstring)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_to_unix_nano(value)
    raise TimestampError("must be an RFC 3339 string or a Unix epoch number")


def datetime_to_unix_nano(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware ``moment``, exactly; ``TimestampError`` when
    they do not fit ``time_unix_nano``."""
    return check_int64((moment - _EPOCH) // timedelta(microseconds=1) * 1000)


def check_int64(nanos: int) -> int:
    """``nanos`` if it fits ``time_unix_nano`` (int64), else ``TimestampError``."""
    if not -INT64_MAX - 1 <= nanos <= INT64_MAX:
        raise TimestampError("the timestamp is outside the range of int64 nanoseconds")
    return nanos
