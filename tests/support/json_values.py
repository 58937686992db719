"""Hypothesis strategies for JSON of any shape: what a user's data may hold where a parser
expects something else."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    # Beyond any float and any int64, as JSON allows.
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.datetimes().map(lambda moment: moment.strftime("%d/%m/%Y %H:%M")),
)
"""A JSON scalar: null, a boolean, a number of any size, NaN or Infinity, text, a date."""


def any_json(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value: scalars, and lists and objects of them, nested."""
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )
