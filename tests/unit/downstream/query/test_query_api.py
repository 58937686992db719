"""The query API over a real SQLite store: figures, pagination, tenant scoping and 400s."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sluice.core.config.query import QueryConfig
from sluice.downstream.query.app import build_query_app
from sluice.downstream.query.metrics import QueryMetrics
from sluice.downstream.query.paging import encode_cursor
from sluice.downstream.rollup.sqlite import SqliteRollupStore
from sluice.downstream.rollup.store import StoreUnavailable
from sluice.ops.auth import AuthConfig, TokenConfig, build_authenticator, token_digest
from sluice.v1.ingest_pb2 import Reading
from tests.support.rollup import BASE_HOUR_NS, random_readings, record, reference

NOW_S = BASE_HOUR_NS // 1_000_000_000 + 2 * 3600 + 1800
"""The API's clock: 05:30 on the day the readings start at 03:00."""
TOKENS = {
    "acme-query": ("acme", ("query",)),
    "globex-query": ("globex", ("query",)),
    "acme-ingest": ("acme", ("ingest",)),
}
ACME = {"Authorization": "Bearer acme-query"}
GLOBEX = {"Authorization": "Bearer globex-query"}
DEVICES = tuple(f"dev-{n:02d}" for n in range(7))
READINGS = random_readings(700, seed=91, devices=DEVICES, hours=4)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteRollupStore]:
    opened = SqliteRollupStore(tmp_path / "rollup.db").open()
    opened.apply([record(READINGS[i : i + 100], f"s:{i}:0") for i in range(0, 700, 100)])
    opened.apply(
        [
            record(
                [Reading(device_id="g-1", metric="rpm", value=1.0, time_unix_nano=BASE_HOUR_NS)],
                "s:1:0",
                tenant="globex",
            )
        ]
    )
    try:
        yield opened
    finally:
        opened.close()


def auth_config() -> AuthConfig:
    tokens = tuple(
        TokenConfig(tenant=tenant, sha256=token_digest(token), scopes=scopes)
        for token, (tenant, scopes) in TOKENS.items()
    )
    return AuthConfig(mode="token", tokens=tokens)


async def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://query")


@pytest.fixture
async def client(store: SqliteRollupStore) -> AsyncIterator[httpx.AsyncClient]:
    config = QueryConfig(page_size=3, max_page_size=50, max_range_h=48, max_top=3)
    app = build_query_app(
        store, build_authenticator(auth_config()), config, token_required=True, clock=lambda: NOW_S
    )
    async with await client_for(app) as http:
        yield http


async def all_pages(client: httpx.AsyncClient, url: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(url, params=query, headers=ACME)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the listing never ended")


async def test_devices_are_listed_page_by_page(client: httpx.AsyncClient) -> None:
    first = (await client.get("/v1/devices", headers=ACME)).json()
    items = await all_pages(client, "/v1/devices")

    assert len(first["items"]) == 3
    assert first["next_cursor"]
    assert [item["device_id"] for item in items] == list(DEVICES)


async def test_a_devices_metrics_are_listed(client: httpx.AsyncClient) -> None:
    items = await all_pages(client, "/v1/devices/dev-03/metrics", limit=1)

    assert [item["metric"] for item in items] == ["humidity", "temperature"]
    expected = sum(1 for r in READINGS if r.device_id == "dev-03")
    assert sum(item["readings"] for item in items) == expected


async def test_hourly_figures_equal_the_reference(client: httpx.AsyncClient) -> None:
    items = await all_pages(
        client,
        "/v1/devices/dev-05/metrics/temperature/hourly",
        **{"from": "2026-01-02T03:00:00Z", "to": "2026-01-02T07:00:00Z"},
    )

    expected = {
        key[3]: figures
        for key, figures in sorted(reference([("acme", READINGS)]).items())
        if key[1:3] == ("dev-05", "temperature")
    }
    assert [item["hour"] for item in items] == [
        f"2026-01-02T0{h}:00:00Z" for h in range(3, 3 + len(expected))
    ]
    for item, figures in zip(items, expected.values(), strict=True):
        assert item["count"] == figures.count
        assert item["mean"] == pytest.approx(figures.total / figures.count)
        assert (item["min"], item["max"]) == (figures.minimum, figures.maximum)


@pytest.mark.parametrize(
    ("params", "hours"),
    [
        ({"from": "2026-01-02T04:30:00Z", "to": "2026-01-02T06:00:00Z"}, ["04", "05"]),
        ({"from": "2026-01-02T04:00:00", "to": "2026-01-02T04:00:01"}, ["04"]),
        ({"from": "2026-01-02T05:00:00+01:00", "to": "2026-01-02T05:59:00Z"}, ["04", "05"]),
        ({}, ["03", "04", "05"]),  # the last 24 hours up to the clock's 05:30
        ({"to": "2026-01-02T05:00:00Z"}, ["03", "04"]),
    ],
)
async def test_the_range_selects_the_hours_that_start_in_it(
    client: httpx.AsyncClient, params: dict[str, str], hours: list[str]
) -> None:
    response = await client.get(
        "/v1/devices/dev-01/metrics/humidity/hourly", params={**params, "limit": 10}, headers=ACME
    )

    assert response.status_code == 200, response.text
    assert [item["hour"][11:13] for item in response.json()["items"]] == hours


async def test_fleet_hours_sum_every_device_and_list_the_top_by_mean(
    client: httpx.AsyncClient,
) -> None:
    items = await all_pages(
        client,
        "/v1/metrics/temperature/hourly",
        top=2,
        **{"from": "2026-01-02T00:00:00Z", "to": "2026-01-02T07:00:00Z"},
    )

    expected = reference([("acme", READINGS)])
    for item in items:
        hour = BASE_HOUR_NS // 1_000_000_000 + 3600 * (int(item["hour"][11:13]) - 3)
        per_device = {
            key[1]: figures
            for key, figures in expected.items()
            if key[2] == "temperature" and key[3] == hour
        }
        assert item["devices"] == len(per_device)
        assert item["count"] == sum(f.count for f in per_device.values())
        assert item["max"] == max(f.maximum for f in per_device.values())
        ranked = sorted(per_device, key=lambda d: -per_device[d].total / per_device[d].count)
        assert [t["device_id"] for t in item["top"]] == ranked[:2]
    assert len(items) == 4


async def test_every_answer_is_limited_to_the_tokens_tenant(client: httpx.AsyncClient) -> None:
    globex = (await client.get("/v1/devices", headers=GLOBEX)).json()
    foreign = await client.get("/v1/devices/dev-01/metrics", headers=GLOBEX)
    foreign_hours = await client.get(
        "/v1/devices/dev-01/metrics/humidity/hourly",
        params={"to": "2026-01-02T06:00:00Z"},
        headers=GLOBEX,
    )

    assert [item["device_id"] for item in globex["items"]] == ["g-1"]
    assert foreign.status_code == 404
    assert foreign_hours.json()["items"] == []


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "credentials required: send 'authorization: Bearer <token>' header"),
        ({"Authorization": "Bearer nope"}, 401, "not valid"),
        ({"Authorization": "Basic abc"}, 401, "the authorization header must be one 'Bearer"),
        ({"Authorization": "Bearer acme-ingest"}, 403, "'query' scope"),
        ({**ACME, "sluice-tenant": "globex"}, 403, "belong to tenant 'acme'"),
    ],
)
async def test_callers_without_a_query_token_for_the_tenant_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, detail: str
) -> None:
    response = await client.get("/v1/devices", headers=headers)

    assert response.status_code == status
    assert detail in response.json()["detail"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


HOURLY = "/v1/devices/dev-01/metrics/humidity/hourly"


@pytest.mark.parametrize(
    ("url", "params", "detail"),
    [
        (HOURLY, {"from": "2026-01-02T05:00:00Z", "to": "2026-01-02T04:00:00Z"}, "must be before"),
        (HOURLY, {"from": "2026-01-02T05:00:00Z", "to": "2026-01-02T05:00:00Z"}, "must be before"),
        (HOURLY, {"from": "2025-01-01T00:00:00Z"}, "spans more than 48 hours"),
        (HOURLY, {"from": "yesterday"}, "query.from:"),
        (HOURLY, {"to": "2026-13-01T00:00:00Z"}, "query.to:"),
        ("/v1/metrics/humidity/hourly", {"top": 4}, "query.top:"),
        ("/v1/devices", {"limit": 0}, "query.limit:"),
        ("/v1/devices", {"limit": 51}, "query.limit:"),
        ("/v1/devices", {"cursor": "not-a-cursor"}, "cursor is not a cursor"),
        ("/v1/devices", {"cursor": encode_cursor("devices", "\ud800")}, "not a cursor"),
        (HOURLY, {"cursor": encode_cursor("hours", 10**30)}, "not a cursor"),
        (HOURLY, {"to": "0001-01-01T00:30:00Z"}, "no room for the default range"),
        (
            "/v1/devices/dev-01/metrics",
            {"cursor": "WyJkZXZpY2VzIiwiZGV2LTAyIl0"},
            "another listing",
        ),
    ],
)
async def test_a_bad_parameter_is_a_400_that_says_what_is_wrong(
    client: httpx.AsyncClient, url: str, params: dict[str, Any], detail: str
) -> None:
    response = await client.get(url, params=params, headers=ACME)

    assert response.status_code == 400
    assert detail in response.json()["detail"]


async def test_the_store_being_down_is_a_503_with_retry_after(tmp_path: Path) -> None:
    class DownStore(SqliteRollupStore):
        def fetch(self, sql: str, params: Any) -> list[Any]:
            raise StoreUnavailable("database is locked")

    down = DownStore(tmp_path / "down.db").open()
    app = build_query_app(down, build_authenticator(AuthConfig()), QueryConfig(), False)
    try:
        async with await client_for(app) as http:
            response = await http.get("/v1/devices")
    finally:
        down.close()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


async def test_without_tokens_every_call_is_the_default_tenant(store: SqliteRollupStore) -> None:
    app = build_query_app(
        store, build_authenticator(AuthConfig(default_tenant="globex")), QueryConfig(), False
    )
    async with await client_for(app) as http:
        response = await http.get("/v1/devices")

    assert [item["device_id"] for item in response.json()["items"]] == ["g-1"]
    assert "securitySchemes" not in app.openapi().get("components", {})


async def test_the_document_declares_400s_and_bearer_auth_but_no_422(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        responses = item["get"]["responses"]
        assert {"200", "400", "401", "403", "503"} <= set(responses), path
        assert "422" not in responses, path
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_requests_are_counted_by_route_template_and_exact_status(
    store: SqliteRollupStore,
) -> None:
    registry = CollectorRegistry()
    app = build_query_app(
        store,
        build_authenticator(auth_config()),
        QueryConfig(),
        True,
        metrics=QueryMetrics(registry),
    )
    async with await client_for(app) as http:
        assert (await http.get("/v1/devices/dev-03/metrics", headers=ACME)).status_code == 200
        assert (await http.get("/v1/devices/dev-05/metrics", headers=ACME)).status_code == 200
        assert (await http.get("/v1/devices/dev-03/metrics")).status_code == 401
        assert (await http.get("/healthz")).status_code == 200

    def requests(status: str) -> float | None:
        labels = {
            "handler": "/v1/devices/{device_id:path}/metrics",
            "method": "GET",
            "status": status,
        }
        return registry.get_sample_value("sluice_query_http_requests_total", labels)

    assert (requests("200"), requests("401")) == (2.0, 1.0)
    exposition = generate_latest(registry).decode()
    assert "dev-03" not in exposition  # a device id never becomes a label value
    assert 'handler="/healthz"' not in exposition
    latency = registry.get_sample_value(
        "sluice_query_http_request_duration_seconds_count",
        {"handler": "/v1/devices/{device_id:path}/metrics", "method": "GET"},
    )
    assert latency == 3.0
