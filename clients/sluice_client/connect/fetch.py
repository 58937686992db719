"""One poll's HTTP request, retried with exponential backoff and jitter.

A 5xx, a 429, a timeout or a connection error is retried up to ``retries`` more times. The
wait before retry ``n`` (from 0) is drawn from [b/2, b] with b = ``backoff_s * 2**n`` ("equal
jitter": it still grows, and connectors restarted together spread out), and is at least the
``Retry-After`` the server sent (capped at ``MAX_RETRY_AFTER_S``). Any other status, and a
body that is not JSON, fail the poll at once.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

import httpx

MAX_RETRY_AFTER_S: Final = 300.0


class FetchError(Exception):
    """The poll's request failed for good; ``attempts`` were made."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Fetched:
    """A page's JSON response, where it came from, and the attempts it took."""

    body: object
    attempts: int
    url: str
    """The URL that answered (after redirects): relative next-page links resolve against it."""
    next_link: str | None
    """The ``Link`` header's ``rel="next"`` URL, if the response has one."""


class _Failed(Exception):
    """This attempt failed, and retrying would not help."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def backoff_delay(attempt: int, backoff_s: float, rng: random.Random) -> float:
    """The wait before retry ``attempt`` (0 for the first retry)."""
    ceiling = backoff_s * 2.0**attempt
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


async def fetch_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    timeout_s: float,
    retries: int,
    backoff_s: float,
    sleep: Callable[[float], Awaitable[None]],
    rng: random.Random,
) -> Fetched:
    """GET ``url`` and parse its JSON; raises ``FetchError`` once retries are spent, or at
    once for a status that retrying would not change or a body that is not JSON."""
    attempt = 0
    while True:
        try:
            response = await _attempt(client, url, params, headers, timeout_s)
        except _Failed as failure:
            raise FetchError(str(failure), attempt + 1) from None
        except _Retryable as failure:
            if attempt >= retries:
                raise FetchError(f"{failure} (after {attempt + 1} attempts)", attempt + 1) from None
            delay = max(backoff_delay(attempt, backoff_s, rng), failure.retry_after_s)
            attempt += 1
            await sleep(delay)
            continue
        try:
            body = response.json()
        except ValueError:
            text = response.text[:200]
            raise FetchError(f"the response is not JSON: {text!r}", attempt + 1) from None
        next_link = response.links.get("next", {}).get("url")
        return Fetched(body, attempt + 1, str(response.url), next_link)


async def _attempt(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    timeout_s: float,
) -> httpx.Response:
    try:
        # Merged, not passed as params=, which would replace the query the URL has.
        target = httpx.URL(url).copy_merge_params(dict(params))
        response = await client.get(target, headers=dict(headers), timeout=timeout_s)
    except httpx.TimeoutException:
        raise _Retryable(f"no answer within {timeout_s:g}s") from None
    except httpx.TransportError as exc:
        raise _Retryable(f"cannot reach the source: {exc!r}") from None
    status = response.status_code
    if status >= 500 or status == 429:
        raise _Retryable(f"HTTP {status}", _retry_after(response))
    if status != 200:
        raise _Failed(f"HTTP {status}: {response.text[:200]!r}")
    return response


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    # isdigit alone takes "²" and other digits float() refuses.
    return min(float(value), MAX_RETRY_AFTER_S) if value.isascii() and value.isdigit() else 0.0
