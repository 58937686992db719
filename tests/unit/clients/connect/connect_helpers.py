"""Helpers of the connector tests: a fake clock, a recording sink, a scripted HTTP source."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import yaml

from sluice.v1.ingest_pb2 import Reading
from sluice_client.connect import ConnectorSpec, parse_spec

EXAMPLE = Path(__file__).parents[4] / "connectors" / "example.yaml"
START = 1_717_243_200.0  # 2024-06-01T12:00:00Z


def example_document() -> dict[str, Any]:
    """The committed example spec, as parsed YAML (a fresh copy)."""
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return copy.deepcopy(loaded)


def spec(**changes: Any) -> ConnectorSpec:
    """The example spec with top-level ``changes`` (``None`` removes a key)."""
    document = example_document()
    document["source"]["headers"].pop("Authorization")
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return parse_spec(document)


class FakeClock:
    """Time that moves only when slept."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class ListSink:
    """Keeps what a connector sends; ``flush`` counts."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.flushes = 0

    async def send_many(self, readings: Iterable[Reading]) -> None:
        self.readings.extend(readings)

    async def flush(self) -> None:
        self.flushes += 1


Responder = Callable[[httpx.Request], httpx.Response]


class ScriptedSource:
    """An httpx transport answering from a script, one response (or exception) per request."""

    def __init__(self, *script: httpx.Response | Exception | Responder) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def observations(*items: dict[str, Any]) -> httpx.Response:
    """A 200 response in the example's shape."""
    return httpx.Response(200, content=json.dumps({"observations": list(items)}).encode())


def observation(n: int, **changes: Any) -> dict[str, Any]:
    """One item in the example's shape, observed ``n`` minutes after START."""
    item: dict[str, Any] = {
        "station": {"id": f"st-{n % 3}", "region": "north", "lat": 48.85, "lon": 2.35},
        "observed_at": f"2024-06-01T12:{n:02d}:00Z",
        "temperature": 20.0 + n,
        "temperature_unit": "°C",
        "humidity": 40 + n,
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not ...}
