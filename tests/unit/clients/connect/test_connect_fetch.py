"""Requests retried with exponential backoff and jitter on 5xx, 429, timeouts and refusals."""

from __future__ import annotations

import random

import httpx
import pytest
from connect_helpers import FakeClock, ScriptedSource

from sluice_client.connect import FetchError, backoff_delay
from sluice_client.connect.fetch import Fetched, fetch_json

OK = httpx.Response(200, json={"observations": []})


async def fetch(source: ScriptedSource, clock: FakeClock, retries: int = 4) -> Fetched:
    async with source.client() as client:
        fetched = await fetch_json(
            client,
            "http://source.test/obs",
            params={"limit": "10"},
            headers={"Accept": "application/json"},
            timeout_s=1.0,
            retries=retries,
            backoff_s=1.0,
            sleep=clock.sleep,
            rng=random.Random(3),
        )
    return fetched


async def test_a_5xx_burst_is_retried_with_growing_jittered_waits() -> None:
    source = ScriptedSource(httpx.Response(503), httpx.Response(500), httpx.Response(502), OK)
    clock = FakeClock()
    fetched = await fetch(source, clock)
    assert fetched.attempts == 4
    assert fetched.body == {"observations": []}
    for attempt, wait in enumerate(clock.sleeps):
        assert 2**attempt / 2 <= wait <= 2**attempt
    assert clock.sleeps[2] > clock.sleeps[0]
    request = source.requests[0]
    assert (request.url.params["limit"], request.headers["accept"]) == ("10", "application/json")


def test_jitter_spreads_the_waits() -> None:
    rng = random.Random(1)
    waits = {round(backoff_delay(3, 0.5, rng), 6) for _ in range(20)}
    assert len(waits) > 10
    assert all(2.0 <= wait <= 4.0 for wait in waits)


async def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    await fetch(ScriptedSource(httpx.Response(429, headers={"Retry-After": "7"}), OK), clock)
    assert clock.sleeps == [7.0]


@pytest.mark.parametrize("value", [b"\xb2", b"soon", b"-1"])
async def test_a_retry_after_that_is_no_number_of_seconds_falls_back_to_backoff(
    value: bytes,
) -> None:
    clock = FakeClock()
    refused = httpx.Response(429, headers=[(b"Retry-After", value)])
    await fetch(ScriptedSource(refused, OK), clock)
    assert len(clock.sleeps) == 1
    assert 0.5 <= clock.sleeps[0] <= 1.0


async def test_timeouts_and_refused_connections_are_retried() -> None:
    source = ScriptedSource(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), OK)
    fetched = await fetch(source, FakeClock())
    assert fetched.attempts == 3


async def test_retries_run_out() -> None:
    clock = FakeClock()
    with pytest.raises(FetchError, match="HTTP 500") as caught:
        await fetch(ScriptedSource(httpx.Response(500)), clock, retries=2)
    assert caught.value.attempts == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize(
    ("response", "complaint"),
    [
        (httpx.Response(404, text="no such feed"), "HTTP 404"),
        (httpx.Response(401), "HTTP 401"),
        (httpx.Response(200, text="<html>maintenance</html>"), "not JSON"),
    ],
)
async def test_other_failures_are_not_retried(response: httpx.Response, complaint: str) -> None:
    clock = FakeClock()
    with pytest.raises(FetchError, match=complaint) as caught:
        await fetch(ScriptedSource(httpx.Response(503), response), clock)
    assert caught.value.attempts == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(
    ("url", "params", "sent"),
    [
        ("http://source.test/obs?station=42", {"limit": "10"}, "?station=42&limit=10"),
        ("http://source.test/obs?station=42&limit=1", {"limit": "10"}, "?station=42&limit=10"),
        ("http://source.test/obs?page=2", {}, "?page=2"),
    ],
)
async def test_the_urls_own_query_is_kept_beside_the_params(
    url: str, params: dict[str, str], sent: str
) -> None:
    source = ScriptedSource(OK)
    async with source.client() as client:
        await fetch_json(
            client,
            url,
            params=params,
            headers={},
            timeout_s=1.0,
            retries=0,
            backoff_s=1.0,
            sleep=FakeClock().sleep,
            rng=random.Random(3),
        )
    (request,) = source.requests
    assert str(request.url) == "http://source.test/obs" + sent
