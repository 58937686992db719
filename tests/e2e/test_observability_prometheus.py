"""A real Prometheus scrapes a real ``sluice serve`` with two workers, and the ``sluice rollup``
and ``sluice query`` over what it produces, each as a job of its own (as the chart's
ServiceMonitors make them).

Debian's ``prometheus`` (installed by ``make install``) scrapes the ops ports every second
and loads deploy/prometheus/alerts.yml. The tests read the readings count back through its
HTTP API, run every expression of the Grafana dashboard against it, see each component
export only its own families, and watch the alert rules evaluate against live data: the
healthy roll-up and query raise nothing.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.core.netutil import free_port
from sluice.embedded.broker import TansuBroker
from sluice.runtime.dev_rollup import TANSU_CONSUMER
from sluice_client import IngestClient
from tests.support.ingest import reading
from tests.support.processes import ManagedProcess
from tests.support.servers import SluiceServer
from tests.support.services import SluiceCommand, http_get

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "sluice.json"
JOB = "sluice"
ROLLUP_JOB = "sluice-rollup"
QUERY_JOB = "sluice-query"
START_TIMEOUT_S = 20.0
SCRAPE_WAIT_S = 20.0

CLIENTS = 4
VALID_PER_CLIENT = 250
INVALID_PER_CLIENT = 5
"""2% of the readings are invalid: enough to put SluiceHighRejectionRate in pending."""

# Grafana's values for the dashboard's variables, as with "All" selected.
VARIABLES = {"$__rate_interval": "1m", "$job": ".*", "$instance": ".*"}
CORE_PANELS = {
    "Accepted readings/s",
    "Ready pods",
    "Pods reaching Kafka",
    "Open streams",
    "Readings per second",
    "Batches by Ack status",
    "Kafka records delivered",
    "Rejected readings by reason",
    "Ack latency",
    "Kafka produce latency",
    "In-flight readings",
    "Spool bytes and segments",
    "Spool traffic",
    "Open streams per pod",
    "Rate-limit decisions",
}
"""Panels that must show data for a server that has taken traffic (not, e.g., errors)."""


class Prometheus:
    """A ``prometheus`` process on 127.0.0.1 scraping the targets of each job every second."""

    def __init__(self, workdir: Path, jobs: dict[str, list[str]], rule_files: list[Path]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is not on PATH: `make install` installs Debian's package")
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in jobs.items()
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        command = [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process = ManagedProcess(command, workdir / "prometheus.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        """Start the process and wait until it reports ready."""
        self.process.start(self._ready, START_TIMEOUT_S, poll_s=0.1)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.process.stop()

    def api(self, path: str, **params: str) -> Any:
        """The ``data`` of a Prometheus HTTP API answer; raises ``AssertionError`` on an error."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` now."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        """The value of a one-series ``expr``, or None while it has no series."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def scraped(
    tansu: TansuBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SluiceServer, Prometheus]]:
    """Two workers of ``sluice serve`` that took traffic, the roll-up and the query API over
    it, and a Prometheus scraping all three."""
    workdir = tmp_path_factory.mktemp("observability")
    kafka = {"bootstrap_servers": tansu.bootstrap}
    store = {"sqlite_path": str(workdir / "rollup.db")}
    rollup_ops, query_ops = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    query_api = f"127.0.0.1:{free_port()}"
    rollup_config = {
        "kafka": kafka,
        "rollup": {"ops_listen": rollup_ops, "client": TANSU_CONSUMER, "store": store},
    }
    query_config = {
        "query": {"listen": query_api, "ops_listen": query_ops},
        "rollup": {"store": store},
    }
    with (
        SluiceServer({"kafka": kafka}, workdir, workers=2) as server,
        SluiceCommand("rollup", rollup_config, workdir, f"http://{rollup_ops}/readyz"),
        SluiceCommand("query", query_config, workdir, f"http://{query_ops}/readyz"),
    ):
        jobs = {
            JOB: [f"127.0.0.1:{server.ops_port}"],
            ROLLUP_JOB: [rollup_ops],
            QUERY_JOB: [query_ops],
        }
        prometheus = Prometheus(workdir, jobs, [ALERTS]).start()
        try:
            # Scraped before the traffic too, so the rates in the window see it arrive.
            assert wait_for(prometheus, "sum(up)", len(jobs)) == len(jobs), (
                prometheus.process.logs()
            )
            send_traffic(server.target)
            for path in ("/v1/devices", "/v1/devices?limit=0"):  # a 200 and a 400
                http_get(f"http://{query_api}{path}")
            yield server, prometheus
        finally:
            prometheus.stop()


def send_traffic(target: str) -> None:
    """Each of ``CLIENTS`` gateways streams valid readings, then a few non-finite ones."""

    async def gateway(index: int) -> None:
        async with IngestClient(target, source_id=f"gw-{index}", linger_s=0.01) as client:
            for n in range(VALID_PER_CLIENT):
                await client.send(reading(f"dev-{index}-{n % 10}", value=float(n)))
            await client.flush()
            for _ in range(INVALID_PER_CLIENT):
                await client.send(reading(f"dev-{index}-0", value=math.nan))

    async def fleet() -> None:
        async with asyncio.timeout(60):
            await asyncio.gather(*(gateway(i) for i in range(CLIENTS)))

    asyncio.run(fleet())


def wait_for(prometheus: Prometheus, expr: str, expected: float) -> float | None:
    """Poll ``expr`` until it equals ``expected`` or ``SCRAPE_WAIT_S`` pass; the last value."""
    deadline = time.monotonic() + SCRAPE_WAIT_S
    value = prometheus.scalar(expr)
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.25)
        value = prometheus.scalar(expr)
    return value


def test_prometheus_counts_every_reading_across_both_workers(
    scraped: tuple[SluiceServer, Prometheus],
) -> None:
    _, prometheus = scraped
    valid = CLIENTS * VALID_PER_CLIENT
    invalid = CLIENTS * INVALID_PER_CLIENT
    accepted = wait_for(prometheus, f'sum(sluice_readings_accepted_total{{job="{JOB}"}})', valid)
    assert accepted == valid
    assert prometheus.scalar("sum(sluice_readings_received_total)") == valid + invalid
    rejected = prometheus.scalar('sum(sluice_readings_rejected_total{reason="VALUE_NOT_FINITE"})')
    assert rejected == invalid
    assert prometheus.scalar('sum(sluice_ready{component="gateway"})') == 1, "one pod, ready"


def test_the_rollup_and_the_query_export_their_own_families_only(
    scraped: tuple[SluiceServer, Prometheus],
) -> None:
    _, prometheus = scraped
    valid = CLIENTS * VALID_PER_CLIENT
    rolled_up = f'sum(sluice_rollup_readings_total{{job="{ROLLUP_JOB}"}})'
    assert wait_for(prometheus, rolled_up, valid) == valid
    # Once all is rolled up and committed, no partition the roll-up holds lags.
    lag = f'sum(sluice_rollup_consumer_lag_records{{job="{ROLLUP_JOB}"}})'
    assert wait_for(prometheus, lag, 0) == 0
    answered = f'sum(sluice_query_http_requests_total{{job="{QUERY_JOB}"}})'
    assert wait_for(prometheus, answered, 2) == 2
    for job, component in ((ROLLUP_JOB, "rollup"), (QUERY_JOB, "query")):
        names = {
            series["metric"]["__name__"]
            for series in prometheus.query(f'count by (__name__) ({{job="{job}"}})')
            if series["metric"]["__name__"].startswith("sluice_")
        }
        foreign = {n for n in names if not n.startswith(f"sluice_{component}_")}
        assert foreign == {"sluice_ready"}, f"{job} exports {foreign}"
        ready = f'sluice_ready{{job="{job}", component="{component}"}}'
        assert prometheus.scalar(ready) == 1


def dashboard_panels() -> list[dict[str, Any]]:
    """Every panel of the dashboard that has queries, rows flattened."""
    found: list[dict[str, Any]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            if panel.get("targets"):
                found.append(panel)

    walk(json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"])
    return found


def substitute(expr: str) -> str:
    """``expr`` with Grafana's variables replaced; fails on one this test does not know."""
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    unknown = re.findall(r"\$\{?\w+", expr)
    assert not unknown, f"unknown dashboard variables {unknown} in {expr}"
    return expr


def test_every_dashboard_expression_runs_and_the_core_panels_show_data(
    scraped: tuple[SluiceServer, Prometheus],
) -> None:
    _, prometheus = scraped
    wait_for(prometheus, "sum(sluice_readings_accepted_total)", CLIENTS * VALID_PER_CLIENT)
    # A rate needs two samples in its window; labelled series appear with the traffic.
    newest = '{__name__=~"sluice_(batches|records_produced|readings_rejected)_total"}'
    wait_for(prometheus, f"min(count_over_time({newest}[1m])) >= bool 2", 1)
    panels = dashboard_panels()
    missing = CORE_PANELS - {panel["title"] for panel in panels}
    assert not missing, f"core panels renamed or gone: {missing}"
    errors: list[str] = []
    empty: list[str] = []
    for panel in panels:
        for target in panel["targets"]:
            where = f"{panel['title']!r} {target['refId']}"
            try:
                result = prometheus.query(substitute(target["expr"]))
            except AssertionError as error:
                errors.append(f"{where}: {error}")
                continue
            if panel["title"] in CORE_PANELS and not result:
                empty.append(f"{where}: {target['expr']}")
    assert not errors, "dashboard expressions Prometheus refuses:\n" + "\n".join(errors)
    assert not empty, "core panels without data:\n" + "\n".join(empty)


def test_the_dashboard_variables_find_the_scraped_server(
    scraped: tuple[SluiceServer, Prometheus],
) -> None:
    server, prometheus = scraped
    variables = json.loads(DASHBOARD.read_text(encoding="utf-8"))["templating"]["list"]
    queries = {v["name"]: v["definition"] for v in variables if v["type"] == "query"}
    assert set(queries) == {"job", "instance"}
    found = {}
    for name, definition in queries.items():
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", definition)
        assert match, f"variable {name}: {definition}"
        selector, label = substitute(match[1]), match[2]
        found[name] = prometheus.api(f"label/{label}/values", **{"match[]": selector})
    assert found == {"job": [JOB], "instance": [f"127.0.0.1:{server.ops_port}"]}


def test_the_alert_rules_evaluate_against_live_data(
    scraped: tuple[SluiceServer, Prometheus],
) -> None:
    _, prometheus = scraped
    defined = {
        rule["alert"]
        for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    }
    deadline = time.monotonic() + SCRAPE_WAIT_S
    while True:
        rules = {
            rule["name"]: rule
            for group in prometheus.api("rules", type="alert")["groups"]
            for rule in group["rules"]
        }
        # 2% of the readings were invalid: the rejection alert waits out its `for`.
        if rules.get("SluiceHighRejectionRate", {}).get("state") == "pending":
            break
        if time.monotonic() > deadline:
            pytest.fail(f"SluiceHighRejectionRate never went pending: {rules}")
        time.sleep(0.25)
    assert set(rules) == defined
    errors = {name: rule.get("lastError") for name, rule in rules.items() if rule["health"] != "ok"}
    assert not errors
    states = {name: rule["state"] for name, rule in rules.items()}
    assert states == {name: "inactive" for name in defined} | {"SluiceHighRejectionRate": "pending"}
