"""``finite_number``: a reading's value from a loosely typed field, or None."""

from __future__ import annotations

import pytest

from sluice_client.numbers import finite_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        (-2.5, -2.5),
        ("1.25", 1.25),
        (" 7 ", 7.0),
        ("1e3", 1000.0),
        (10**300, 1e300),
    ],
)
def test_numbers_and_numeric_text_are_read(value: object, expected: float) -> None:
    assert finite_number(value) == expected


@pytest.mark.parametrize(
    "value",
    [True, False, None, "", "abc", "1,5", "nan", "inf", float("nan"), float("-inf"), 10**400, [1]],
)
def test_anything_else_is_none(value: object) -> None:
    assert finite_number(value) is None
