"""``IngestClient`` refuses options it could not honour, naming each, before it connects."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sluice_client.client import MAX_SEQ, IngestClient


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"linger_s": -1.0}, "linger_s"),
        ({"linger_s": math.nan}, "linger_s"),
        ({"linger_s": math.inf}, "linger_s"),
        ({"first_seq": 0}, "first_seq"),
        ({"first_seq": MAX_SEQ + 1}, "first_seq"),
        ({"max_batch_readings": 0}, "max_readings"),
        ({"max_batch_bytes": -5}, "max_bytes"),
        ({"max_inflight": 0}, "window"),
    ],
)
def test_an_option_out_of_range_is_refused_by_name(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        IngestClient("127.0.0.1:1", **options)


def test_the_edges_of_the_ranges_are_taken() -> None:
    IngestClient("127.0.0.1:1", linger_s=0.0, first_seq=MAX_SEQ, max_inflight=1)
