"""The ops app through a real OpsServer on 127.0.0.1:0: /metrics, /healthz, /readyz."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from sluice.ops.app import MULTIPROC_DIR_ENV, build_ops_app
from sluice.ops.server import OpsServer


def sample(text: str, name: str) -> float | None:
    """The value of the unlabelled sample ``name`` in Prometheus text, or None."""
    for family in text_string_to_metric_families(text):
        for each in family.samples:
            if each.name == name:
                return float(each.value)
    return None


class Readiness:
    """A readiness flag the test flips."""

    def __init__(self) -> None:
        self.ready = True

    def __call__(self) -> bool:
        return self.ready


@pytest.fixture(autouse=True)
def single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_ENV, raising=False)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
async def base_url(registry: CollectorRegistry, readiness: Readiness) -> AsyncIterator[str]:
    server = OpsServer("127.0.0.1:0", build_ops_app(registry, readiness))
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.shutdown()


async def test_metrics_shows_the_registry(base_url: str, registry: CollectorRegistry) -> None:
    Counter("test_events", "Events.", registry=registry).inc(7)
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert sample(response.text, "test_events_total") == 7.0


async def test_healthz_answers_even_when_not_ready(base_url: str, readiness: Readiness) -> None:
    readiness.ready = False
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{base_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_follows_the_callable(base_url: str, readiness: Readiness) -> None:
    async with httpx.AsyncClient() as client:
        ready = await client.get(f"{base_url}/readyz")
        readiness.ready = False
        not_ready = await client.get(f"{base_url}/readyz")
        readiness.ready = True
        ready_again = await client.get(f"{base_url}/readyz")
    assert (ready.status_code, not_ready.status_code, ready_again.status_code) == (200, 503, 200)
    assert not_ready.json()["status"] == "not ready"
    assert not_ready.json()["reason"]


@pytest.mark.parametrize(
    ("ready", "why_not_ready", "expected_reason"),
    [
        (lambda: False, lambda: "draining", "draining"),
        (lambda: 1 / 0 == 0, None, "readiness check failed: ZeroDivisionError"),
    ],
    ids=["reason-given", "check-raises"],
)
async def test_readyz_says_why(
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    why_not_ready: Callable[[], str] | None,
    expected_reason: str,
) -> None:
    server = OpsServer("127.0.0.1:0", build_ops_app(registry, ready, why_not_ready))
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{server.port}/readyz")
    finally:
        await server.shutdown()
    assert response.status_code == 503
    assert response.json()["reason"].startswith(expected_reason)


async def test_unknown_path_is_404(base_url: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{base_url}/api")
    assert response.status_code == 404


async def test_shutdown_closes_the_port_and_is_idempotent(registry: CollectorRegistry) -> None:
    server = OpsServer("127.0.0.1:0", build_ops_app(registry, lambda: True))
    await server.start()
    url = f"http://127.0.0.1:{server.port}/healthz"
    await server.shutdown()
    await server.shutdown()
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url)


async def test_shutdown_without_start_is_safe(registry: CollectorRegistry) -> None:
    server = OpsServer("127.0.0.1:0", build_ops_app(registry, lambda: True))
    await server.shutdown()
    with pytest.raises(RuntimeError, match="start"):
        _ = server.port


async def test_serving_leaves_the_signal_handlers_alone(registry: CollectorRegistry) -> None:
    handled = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.getsignal(sig) for sig in handled}
    server = OpsServer("127.0.0.1:0", build_ops_app(registry, lambda: True))
    await server.start()
    try:
        during = {sig: signal.getsignal(sig) for sig in handled}
    finally:
        await server.shutdown()
    assert during == before


@pytest.mark.parametrize("listen", ["127.0.0.1", "127.0.0.1:http", "::1:0", "127.0.0.1:70000"])
async def test_a_bad_listen_address_is_refused(registry: CollectorRegistry, listen: str) -> None:
    server = OpsServer(listen, build_ops_app(registry, lambda: True))
    with pytest.raises(ValueError, match="listen address"):
        await server.start()
