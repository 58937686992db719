"""The human-readable half of a rejection: each message names the field and what was wrong.

These run only when a check fails, never for a reading that passes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

ECHO_LIMIT = 64
"""Characters of a client's string echoed back in a message before it is cut."""


def echo(text: str) -> str:
    """``text`` quoted and escaped, cut to ``ECHO_LIMIT`` characters."""
    if len(text) > ECHO_LIMIT:
        return json.dumps(text[:ECHO_LIMIT], ensure_ascii=False)[:-1] + '..."'
    return json.dumps(text, ensure_ascii=False)


def name_problem(field: str, value: str, max_length: int, pattern: str) -> str:
    """Why ``value`` failed as a ``field`` (device_id, metric): empty, too long or no match."""
    if not value:
        return f"{field}: is empty"
    if len(value) > max_length:
        return f"{field}: {echo(value)} is {len(value)} characters, the limit is {max_length}"
    return f"{field}: {echo(value)} does not match {pattern}"


def not_finite(value: float, unit: str, converted_to: str | None) -> str:
    """A value that is NaN or infinite as sent, or once converted to ``converted_to``."""
    if converted_to is None:
        return f"value: {value} is not finite"
    return f"value: {value} {unit} is not finite once converted to {converted_to}"


def unit_unknown(unit: str, metric: str, canonical: str, known: Iterable[str]) -> str:
    """A unit the table has no conversion for, listing the units it has."""
    spellings = ", ".join(sorted(spelling for spelling in known if spelling))
    return (
        f"unit: {echo(unit)} is not a known unit of {metric} (stored in {canonical}); "
        f"known units: {spellings}"
    )


def out_of_range(
    metric: str,
    sent: float,
    unit: str,
    value: float,
    canonical: str | None,
    low: float,
    high: float,
) -> str:
    """A value outside ``checks.ranges[metric]``; names the converted value when it differs."""
    where = f"outside [{low}, {high}] for {metric}"
    if canonical is None or unit in ("", canonical):
        return f"value: {sent} is {where}"
    return f"value: {sent} {unit} is {value} {canonical}, {where}"


def too_old(sent: int, unit: str, age_ns: int, max_age_s: float) -> str:
    """An event time older than ``checks.max_age_s``."""
    return (
        f"time_unix_nano: {sent} (read as {unit}) is {age_ns / 1e9:.3f} s old, "
        f"the limit is checks.max_age_s={max_age_s:g}"
    )


def in_future(sent: int, unit: str, ahead_ns: int, max_skew_s: float) -> str:
    """An event time further ahead than ``checks.max_skew_s``."""
    return (
        f"time_unix_nano: {sent} (read as {unit}) is {ahead_ns / 1e9:.3f} s ahead, "
        f"the limit is checks.max_skew_s={max_skew_s:g}"
    )


def too_many_tags(count: int, max_tags: int) -> str:
    """More tags than ``checks.max_tags``."""
    return f"tags: {count} tags, the limit is {max_tags}"


def tag_problem(key: str, value: str, key_max: int, value_max: int) -> str:
    """Why one tag is invalid: an empty or long key, or a long value."""
    if not key:
        return "tags: a key is empty"
    if len(key) > key_max:
        return f"tags[{echo(key)}]: key is {len(key)} characters, the limit is {key_max}"
    return f"tags[{echo(key)}]: value is {len(value)} characters, the limit is {value_max}"


def location_invalid(lat: float, lon: float) -> str:
    """A latitude outside [-90, 90] or a longitude outside [-180, 180], or either not finite."""
    if not -90.0 <= lat <= 90.0:
        return f"location: lat {lat} is outside [-90, 90]"
    return f"location: lon {lon} is outside [-180, 180]"
