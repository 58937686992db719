"""Keyset pagination and time ranges: the request parameters the query API checks itself.

A cursor is opaque to clients: the URL-safe base64 of ``[listing, last key]``, so a cursor
from one listing is refused by another. Every problem raises ``BadRequest``, answered 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sluice.downstream.rollup.aggregate import HOUR_S

Key = TypeVar("Key", str, int)


class BadRequest(ValueError):
    """A request parameter is wrong; the message says which and why."""


def encode_cursor(listing: str, key: str | int) -> str:
    """The cursor that resumes ``listing`` after ``key``."""
    text = json.dumps([listing, key], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, listing: str, initial: Key) -> Key:
    """The last key of the previous page, or ``initial`` without a cursor."""
    if cursor is None:
        return initial
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (UnicodeError, binascii.Error, ValueError):
        raise BadRequest("cursor is not a cursor this API returned") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or decoded[0] != listing
        or type(decoded[1]) is not type(initial)
    ):
        raise BadRequest("cursor belongs to another listing") from None
    key: Key = decoded[1]
    if not _storable(key):
        raise BadRequest("cursor is not a cursor this API returned")
    return key


def _storable(key: str | int) -> bool:
    """True for keys a store can compare: int64-sized numbers, text without NUL or surrogates."""
    if isinstance(key, int):
        return -(2**62) < key < 2**62
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in key


def next_cursor(listing: str, keys: list[Key], limit: int) -> str | None:
    """The cursor after a page of ``keys`` fetched with ``limit + 1``, or None at the end."""
    return encode_cursor(listing, keys[limit - 1]) if len(keys) > limit else None


def hour_span(
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    default_hours: int,
    max_hours: int,
) -> tuple[int, int]:
    """The hours asked for, as ``[first hour start, end)`` in Unix seconds.

    ``to`` defaults to ``now`` and ``from`` to ``default_hours`` before ``to``. A time
    without an offset is UTC. Hours are included when they start at or after the hour
    holding ``from``, and before ``to``.
    """
    end = now if end is None else _aware(end)
    try:
        start = end - timedelta(hours=default_hours) if start is None else _aware(start)
    except OverflowError:
        raise BadRequest(f"to ({end.isoformat()}) leaves no room for the default range") from None
    if start >= end:
        raise BadRequest(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    if end - start > timedelta(hours=max_hours):
        raise BadRequest(
            f"from ({start.isoformat()}) to to ({end.isoformat()}) spans more than "
            f"{max_hours} hours; ask for a shorter range"
        )
    first = math.floor(start.timestamp() / HOUR_S) * HOUR_S
    return first, math.ceil(end.timestamp())


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
