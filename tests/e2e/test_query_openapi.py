"""schemathesis against a live ``sluice query`` process: no server errors, and every answer
conforms to the OpenAPI document the process serves (statuses, content types, schemas)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from sluice.core.netutil import free_port
from sluice.downstream.rollup.sqlite import SqliteRollupStore
from sluice.ops.auth import token_digest
from tests.support.rollup import HOUR_NS, random_readings, record
from tests.support.services import SluiceCommand

pytestmark = pytest.mark.e2e

TOKEN = "acme-query-token"
MAX_EXAMPLES = 40
NOT_APPLICABLE = [positive_data_acceptance, negative_data_rejection]
"""Every other check runs. These two judge input strictness, which the document cannot
state here: a schema-valid cursor may be one this API never issued, and a schema-valid
``from`` may lie after ``to`` (both a 400 by design); unknown query parameters are ignored."""
MALFORMED_HTTP = "Invalid HTTP request received."
"""uvicorn's plain-text 400 for a message HTTP does not allow (negative mode can send one, an
empty ``Content-Length`` header, say): the protocol's answer, outside the API's document."""
OPERATIONS = [
    "/v1/devices",
    "/v1/devices/{device_id}/metrics",
    "/v1/devices/{device_id}/metrics/{metric}/hourly",
    "/v1/metrics/{metric}/hourly",
]


@pytest.fixture(scope="module")
def query_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``sluice query`` over a SQLite store holding the last few hours of a small fleet."""
    workdir: Path = tmp_path_factory.mktemp("query")
    store = SqliteRollupStore(workdir / "rollup.db").open()
    recent = time.time_ns() // HOUR_NS * HOUR_NS - 3 * HOUR_NS
    devices = ("dev-1", "site/dev-2", "dev 3")
    readings = random_readings(500, seed=81, devices=devices, start_ns=recent, hours=4)
    store.apply([record(readings[i : i + 50], f"s:{i}:0") for i in range(0, 500, 50)])
    store.close()
    listen = f"127.0.0.1:{free_port()}"
    config = {
        "auth": {
            "mode": "token",
            "tokens": [{"tenant": "acme", "sha256": token_digest(TOKEN), "scopes": ["query"]}],
        },
        "query": {
            "listen": listen,
            "ops_listen": f"127.0.0.1:{free_port()}",
            "page_size": 20,
            "max_page_size": 50,
        },
        "rollup": {"store": {"sqlite_path": str(workdir / "rollup.db")}},
        "logging": {"format": "text"},
    }
    with SluiceCommand("query", config, workdir, f"http://{listen}/healthz") as process:
        yield f"http://{listen}"
        assert process.stop() == 0, process.logs()


@pytest.fixture(scope="module")
def api(query_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{query_url}/openapi.json")


def test_the_document_lists_every_operation(api: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api.get_all_operations()]
    assert sorted((op.method.upper(), op.path) for op in operations) == sorted(
        ("GET", path) for path in OPERATIONS
    )


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
@pytest.mark.parametrize("path", OPERATIONS)
def test_the_api_answers_as_its_document_says(
    api: schemathesis.BaseSchema, query_url: str, path: str, mode: schemathesis.GenerationMode
) -> None:
    operation = api[path]["GET"]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def answers(case: schemathesis.Case) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = case.call(base_url=query_url, headers=headers)
        if response.status_code == 400 and response.text == MALFORMED_HTTP:
            return  # refused by the HTTP server before the API saw it: no API answer
        case.validate_response(response, headers=headers, excluded_checks=NOT_APPLICABLE)

    answers()
