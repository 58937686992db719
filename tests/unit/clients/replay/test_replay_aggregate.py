"""Windowed counts and sums of access log requests, with lateness and late lines."""

from __future__ import annotations

from sluice.v1.ingest_pb2 import Reading
from sluice_client.replay import AccessRecord, WindowAggregator
from sluice_client.replay.aggregate import window_label

S = 1_000_000_000
BASE = 1_700_000_000 * S  # a multiple of 10 s


def request(
    at_s: float, status: int = 200, path: str = "/a", time_s: float | None = 0.5, sent: int = 100
) -> AccessRecord:
    return AccessRecord(int(BASE + at_s * S), "web-1", "GET", status, path, sent, time_s)


def summary(readings: list[Reading]) -> dict[tuple[int, str, str], float]:
    return {((r.time_unix_nano - BASE) // S, r.tags["status"], r.metric): r.value for r in readings}


def test_counts_and_sums_per_window_and_tags() -> None:
    aggregator = WindowAggregator(10 * S)
    for at in (0, 1, 2):
        assert aggregator.add(request(at)) == []
    aggregator.add(request(3, status=500, time_s=None, sent=7))
    aggregator.add(request(12))
    assert summary(aggregator.flush()) == {
        (0, "200", "http.request.count"): 3,
        (0, "200", "http.request.bytes_sum"): 300,
        (0, "200", "http.request.time_sum"): 1.5,
        (0, "500", "http.request.count"): 1,
        (0, "500", "http.request.bytes_sum"): 7,
        (10, "200", "http.request.count"): 1,
        (10, "200", "http.request.bytes_sum"): 100,
        (10, "200", "http.request.time_sum"): 0.5,
    }


def test_the_readings_carry_the_request_tags_and_the_window() -> None:
    aggregator = WindowAggregator(10 * S)
    aggregator.add(request(1, status=404, path="/items/{id}"))
    reading = aggregator.flush()[0]
    assert reading.device_id == "web-1"
    assert reading.time_unix_nano == BASE
    assert dict(reading.tags) == {
        "host": "web-1",
        "method": "GET",
        "status": "404",
        "status_class": "4xx",
        "path_template": "/items/{id}",
        "window": "10s",
    }


def test_a_window_closes_once_the_log_passes_its_end_by_the_lateness() -> None:
    aggregator = WindowAggregator(10 * S)
    aggregator.add(request(5))
    assert aggregator.add(request(19)) == [], "still inside the lateness"
    assert aggregator.add(request(8)) == [], "a slightly late line still counts"
    closed = aggregator.add(request(20))
    assert summary(closed)[(0, "200", "http.request.count")] == 2
    assert aggregator.add(request(9)) == []
    assert aggregator.late == 1, "a line for a window already sent is dropped and counted"
    assert summary(aggregator.flush())[(10, "200", "http.request.count")] == 1


def test_expire_closes_windows_by_the_wall_clock() -> None:
    aggregator = WindowAggregator(10 * S, lateness_ns=2 * S)
    aggregator.add(request(1))
    assert aggregator.expire(BASE + 11 * S) == []
    assert len(aggregator.expire(BASE + 12 * S)) == 3
    assert aggregator.flush() == []


def test_window_labels() -> None:
    assert [window_label(n) for n in (10 * S, 60 * S, 3600 * S, 1_500_000_000)] == [
        "10s",
        "1m",
        "1h",
        "1500ms",
    ]
