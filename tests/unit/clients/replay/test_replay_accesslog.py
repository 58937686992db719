"""Access log lines to http.request readings; malformed lines are named, never fatal."""

from __future__ import annotations

import pytest

from sluice_client.replay import AccessLogParser, MalformedLine
from tests.support.logsamples import access_log

LINE = (
    '203.0.113.9 - alice [10/Oct/2024:13:55:36 +0200] "GET /api/items/42?x=1 HTTP/1.1" '
    '200 2326 "https://ref.example/" "Mozilla/5.0 \\"quoted\\""'
)
AT_LINE_TIME = 1_728_561_336_000_000_000  # 2024-10-10T11:55:36Z


def test_a_timed_line_is_one_reading_of_seconds() -> None:
    (reading,) = AccessLogParser("web-1").readings(LINE + " 0.042")
    assert (reading.device_id, reading.metric, reading.value, reading.unit) == (
        "web-1",
        "http.request",
        0.042,
        "s",
    )
    assert reading.time_unix_nano == AT_LINE_TIME
    assert dict(reading.tags) == {
        "host": "web-1",
        "method": "GET",
        "status": "200",
        "status_class": "2xx",
        "path_template": "/api/items/{id}",
    }


def test_without_timing_the_value_is_bytes() -> None:
    (reading,) = AccessLogParser("web-1").readings(LINE)
    assert (reading.value, reading.unit) == (2326.0, "By")


@pytest.mark.parametrize(
    ("unit", "raw", "seconds"), [("s", "1.5", 1.5), ("ms", "250", 0.25), ("us", "42000", 0.042)]
)
def test_request_time_units(unit: str, raw: str, seconds: float) -> None:
    record = AccessLogParser("h", unit).parse(f"{LINE} {raw}")  # type: ignore[arg-type]
    assert record.request_time_s == pytest.approx(seconds)


def test_a_virtual_host_names_the_device() -> None:
    record = AccessLogParser("web-1").parse("shop.example:443 " + LINE)
    assert record.host == "shop.example"


@pytest.mark.parametrize(
    ("line", "method", "path", "sent"),
    [
        (LINE.replace('"GET /api/items/42?x=1 HTTP/1.1"', '"-"'), "UNKNOWN", "-", 2326),
        (
            LINE.replace('"GET /api/items/42?x=1 HTTP/1.1"', '"\\x16\\x03\\x01"'),
            "UNKNOWN",
            "-",
            2326,
        ),
        (LINE.replace(" 2326 ", " - "), "GET", "/api/items/{id}", 0),
    ],
)
def test_odd_but_valid_requests(line: str, method: str, path: str, sent: int) -> None:
    record = AccessLogParser("h").parse(line)
    assert (record.method, record.path_template, record.bytes_sent) == (method, path, sent)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("garbage", "format"),
        (LINE[:60], "format"),
        (LINE.replace("10/Oct/2024", "10/Foo/2024"), "time"),
        (LINE.replace("10/Oct/2024", "32/Oct/2024"), "time"),
        (LINE.replace("10/Oct/2024", "10/Oct/0001"), "time"),
        (LINE.replace("10/Oct/2024", "10/Oct/9999"), "time"),
        (LINE.replace("+0200", "CEST"), "time"),
        (LINE + " fast", "request_time"),
        (LINE + " -1", "request_time"),
    ],
)
def test_malformed_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(MalformedLine) as caught:
        AccessLogParser("h").parse(line)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("timed", "vhost"), [(True, False), (False, True)])
def test_a_realistic_file(timed: bool, vhost: bool) -> None:
    sample = access_log(400, timed=timed, vhost=vhost)
    parser = AccessLogParser("web-1")
    readings, malformed = [], {}
    for line in sample.text.splitlines():
        if not line:
            continue
        try:
            readings.extend(parser.readings(line))
        except MalformedLine as error:
            malformed[error.reason] = malformed.get(error.reason, 0) + 1
    assert len(readings) == sample.good
    assert malformed == sample.malformed
    assert {r.unit for r in readings} == ({"s"} if timed else {"By"})
    assert {r.device_id for r in readings} == ({"shop.example"} if vhost else {"web-1"})
    templates: dict[str, int] = {}
    for r in readings:
        templates[r.tags["path_template"]] = templates.get(r.tags["path_template"], 0) + 1
    assert templates == sample.extra["templates"]
