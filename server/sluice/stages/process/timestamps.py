"""The pipeline's time normalisation (``checks.timestamp_units``).

With ``auto``, a time's unit is recognised by its magnitude, by the rule the client SDK
shares (``sluice_client.timestamps``, where the thresholds are tabled). The checker inlines
``MICROS_BELOW`` as its fast test for "already nanoseconds"; ``normalise_time`` is the rest.
"""

from __future__ import annotations

from sluice_client.timestamps import MICROS_BELOW
from sluice_client.timestamps import unit_of as _unit_of

__all__ = ["MICROS_BELOW", "normalise_time", "unit_of"]


def normalise_time(time: int, receipt_unix_nano: int, auto: bool = True) -> int:
    """``time`` in nanoseconds: 0 becomes the receipt time, and with ``auto`` a value in
    seconds, milliseconds or microseconds is scaled by its magnitude."""
    if time == 0:
        return receipt_unix_nano
    if not auto or time >= MICROS_BELOW:
        return time
    return time * _unit_of(time)[1]


def unit_of(time: int, auto: bool = True) -> str:
    """The unit ``normalise_time`` reads ``time`` in, for messages."""
    if not auto:
        return "ns"
    return _unit_of(time)[0]
