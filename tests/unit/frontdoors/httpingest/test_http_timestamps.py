"""JSON timestamps: RFC 3339 strings and epoch numbers to time_unix_nano."""

from __future__ import annotations

import pytest

from sluice_client.timestamps import TimestampError
from sluice_client.timestamps import json_time_to_unix_nano as to_unix_nano

NOON = 1_717_243_200_000_000_000  # 2024-06-01T12:00:00Z


@pytest.mark.parametrize(
    ("value", "nanos"),
    [
        (None, 0),
        (0, 0),
        ("2024-06-01T12:00:00Z", NOON),
        ("2024-06-01t12:00:00z", NOON),
        ("2024-06-01 14:00:00+02:00", NOON),
        ("2024-06-01T09:30:00-02:30", NOON),
        ("2024-06-01T12:00:00.5Z", NOON + 500_000_000),
        ("2024-06-01T12:00:00.123456789Z", NOON + 123_456_789),
        ("2024-06-01T12:00:00.1234567891234Z", NOON + 123_456_789),
        (1_717_243_200, NOON),
        (1_717_243_200.25, NOON + 250_000_000),
        (1_717_243_200_250, NOON + 250_000_000),
        (1_717_243_200_250_000, NOON + 250_000_000),
        (NOON, NOON),
        (-5, -5_000_000_000),
    ],
)
def test_timestamps_convert(value: str | float | None, nanos: int) -> None:
    assert to_unix_nano(value) == nanos


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("2024-06-01T12:00:00", "offset"),
        ("2024-06-01", "RFC 3339"),
        ("yesterday", "RFC 3339"),
        ("2024-02-30T12:00:00Z", "not a valid date-time"),
        ("2024-06-01T12:00:60Z", "not a valid date-time"),
        (1e300, "int64"),
        (10**400, "int64"),
        (float("nan"), "finite"),
        ("9999-12-31T23:59:59Z", "int64"),
    ],
)
def test_bad_timestamps_say_why(value: str | float, complaint: str) -> None:
    with pytest.raises(TimestampError, match=complaint):
        to_unix_nano(value)
