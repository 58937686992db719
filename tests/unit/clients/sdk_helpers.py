"""Helpers shared by the client SDK tests."""

import asyncio
from collections.abc import Callable

from sluice.v1.ingest_pb2 import Reading
from sluice_client import Backoff

FAST_BACKOFF = Backoff(initial_s=0.01, max_s=0.05)
"""Reconnect quickly, so that tests stay short."""

POLL_INTERVAL_S = 0.005
POLL_LIMIT = 2000
"""Polls before ``eventually`` gives up: about 10 s."""


def reading(number: int = 0, metric: str = "temperature") -> Reading:
    """A valid reading whose device_id carries ``number``."""
    return Reading(
        device_id=f"dev-{number}",
        time_unix_nano=1_700_000_000_000_000_000 + number,
        metric=metric,
        value=20.0 + number,
        unit="°C",
        tags={"model": "bme280"},
    )


async def eventually(condition: Callable[[], bool]) -> None:
    """Polls ``condition`` until it holds; fails after about 10 s."""
    for _ in range(POLL_LIMIT):
        if condition():
            return
        await asyncio.sleep(POLL_INTERVAL_S)
    raise AssertionError("condition did not hold in time")
