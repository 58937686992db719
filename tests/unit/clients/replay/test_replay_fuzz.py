"""Generated lines for the access log and ETL replayers: a line gives readings or is named as
malformed; nothing else ever escapes, whatever its values."""

from __future__ import annotations

import calendar
import contextlib
import json
import random
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice_client.replay import AccessLogParser, EtlLogParser, MalformedLine
from tests.support.json_values import any_json
from tests.support.logsamples import etl_record

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ANY_JSON = any_json(max_leaves=8)
RECORD = etl_record(random.Random(7), 1, datetime(2026, 12, 7, 10, 0))
MONTHS = calendar.month_abbr[1:]


def serializes(readings: list[Any]) -> None:
    for reading in readings:
        reading.SerializeToString()


@FUZZ
@given(
    changes=st.dictionaries(st.sampled_from(sorted(RECORD)), ANY_JSON, max_size=5),
    huge=st.integers(min_value=4301, max_value=6000),
    shape=st.sampled_from(["record", "huge integer", "any"]),
    anything=ANY_JSON,
)
def test_an_etl_line_gives_readings_or_is_malformed(
    changes: dict[str, Any], huge: int, shape: str, anything: Any
) -> None:
    line = {
        "record": json.dumps({**RECORD, **changes}, allow_nan=True),
        "huge integer": '{"Duree secondes": ' + "9" * huge + "}",
        "any": json.dumps(anything, allow_nan=True),
    }[shape]
    with contextlib.suppress(MalformedLine):
        serializes(EtlLogParser().readings(line))


@FUZZ
@given(
    day=st.integers(0, 99),
    month=st.sampled_from(MONTHS),
    year=st.integers(0, 9999),
    clock=st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
    offset=st.from_regex(r"[+-]\d{4}", fullmatch=True),
    status=st.integers(0, 999),
    sent=st.one_of(st.just("-"), st.integers(0, 10**30).map(str)),
    timing=st.one_of(st.just(""), st.text(max_size=12).map(lambda text: " " + text)),
    noise=st.text(max_size=40),
)
def test_an_access_log_line_gives_a_reading_or_is_malformed(
    day: int,
    month: str,
    year: int,
    clock: tuple[int, int, int],
    offset: str,
    status: int,
    sent: str,
    timing: str,
    noise: str,
) -> None:
    stamp = f"{day:02d}/{month}/{year:04d}:{clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d} {offset}"
    line = f'198.51.100.7 - - [{stamp}] "GET /a/{noise} HTTP/1.1" {status} {sent} "-" "x"{timing}'
    for text in (line, noise):
        with contextlib.suppress(MalformedLine):
            serializes(AccessLogParser("web-1").readings(text))
