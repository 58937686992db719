"""The compose stack's Grafana: its provisioning files parse and agree with compose.yaml, the
dashboards they name exist, and every SQL query of the roll-ups dashboard runs, as Grafana's
read-only role, on Debian's PostgreSQL holding the roll-up's own tables filled from the
sample ETL log, and gives the figures the log holds.

Grafana expands macros and variables before PostgreSQL sees a query; ``grafana_sql`` does
the same for the ones the dashboard uses (``$__unixEpochFilter`` and query variables, whose
multi-value "All" becomes the quoted list of every option) and fails on any other.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import yaml

from sluice.downstream.rollup.postgres import PostgresRollupStore
from sluice.v1.ingest_pb2 import Reading
from sluice_client.replay.etl import EtlLogParser
from tests.support.compose import COMPOSE_DIR, REPO, compose, make_env, mounts, ports
from tests.support.postgres import PostgresCluster, postgres_bin_dir
from tests.support.rollup import record

PROVISIONING = COMPOSE_DIR / "grafana" / "provisioning"
ROLLUPS = REPO / "deploy" / "grafana" / "rollups.json"
SAMPLE = COMPOSE_DIR / "sample" / "etl-runs.jsonl"
INIT_SCRIPT = COMPOSE_DIR / "initdb" / "grafana-reader.sh"
READER = "grafana_reader"
TENANT = "demo"
WEEK = (1_762_124_400, 1_762_729_200)
"""The sample's week, 2025-11-03 to 2025-11-10 in Paris, in Unix seconds (Grafana's range)."""
SENSOR_HOUR = 1_762_300_800
"""2025-11-05T00:00:00Z: the sensor readings' hour."""
MACRO = re.compile(r"\$__unixEpochFilter\((\w+)\)")
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return compose(make_env())


def grafana(stack: Mapping[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = stack["services"]["grafana"]
    return service


def provisioning(kind: str) -> dict[str, Any]:
    [path] = (PROVISIONING / kind).glob("*.yaml")
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert loaded["apiVersion"] == 1, path
    return loaded


def datasources() -> dict[str, dict[str, Any]]:
    return {source["type"]: source for source in provisioning("datasources")["datasources"]}


def mounted_dashboards(stack: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The dashboard files Grafana's file provider finds, by container path."""
    [provider] = provisioning("dashboards")["providers"]
    directory = provider["options"]["path"].rstrip("/")
    return {
        mount.target: json.loads(mount.host_path.read_text(encoding="utf-8"))
        for mount in mounts(grafana(stack))
        if mount.bind and mount.target.startswith(directory + "/")
    }


def test_provisioning_is_mounted_where_grafana_reads_it(stack: dict[str, Any]) -> None:
    [mount] = [m for m in mounts(grafana(stack)) if m.target == "/etc/grafana/provisioning"]
    assert mount.host_path == PROVISIONING
    assert {path.name for path in PROVISIONING.iterdir()} == {"datasources", "dashboards"}


def test_the_provider_names_the_two_dashboards_and_they_exist(stack: dict[str, Any]) -> None:
    dashboards = mounted_dashboards(stack)
    assert {board["uid"] for board in dashboards.values()} == {"sluice-overview", "sluice-rollups"}
    sources = {m.target: m.host_path for m in mounts(grafana(stack)) if m.target in dashboards}
    assert sorted(path.name for path in sources.values()) == ["rollups.json", "sluice.json"]
    home = grafana(stack)["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert dashboards[home]["uid"] == "sluice-overview"


def test_the_data_sources_point_at_the_stacks_services(stack: dict[str, Any]) -> None:
    sources = datasources()
    assert set(sources) == {"prometheus", "grafana-postgresql-datasource"}
    assert sources["prometheus"]["isDefault"] is True
    prometheus = urlsplit(sources["prometheus"]["url"])
    assert prometheus.hostname in stack["services"]
    assert prometheus.port in [port.target for port in ports(stack["services"]["prometheus"])]
    rollups = sources["grafana-postgresql-datasource"]
    host, port = rollups["url"].split(":")
    assert (host, port) == ("postgres", "5432")
    postgres = stack["services"]["postgres"]["environment"]
    assert rollups["jsonData"]["database"] == postgres["POSTGRES_DB"]
    assert rollups["user"] == READER
    assert f"CREATE ROLE {READER} LOGIN" in INIT_SCRIPT.read_text(encoding="utf-8")
    [variable] = re.findall(r"^\$(\w+)$", rollups["secureJsonData"]["password"])
    assert grafana(stack)["environment"][variable] == postgres[variable]


def test_each_dashboard_reads_a_provisioned_data_source_through_its_variable(
    stack: dict[str, Any],
) -> None:
    provisioned = set(datasources())
    for path, board in mounted_dashboards(stack).items():
        [selector] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
        assert selector["query"] in provisioned, path
        for panel in panels(board):
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == "${datasource}", (path, panel["title"])


def panels(board: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in board["panels"] if panel["type"] != "row"]


def test_rollup_panels_have_unique_ids_and_do_not_overlap() -> None:
    board = json.loads(ROLLUPS.read_text(encoding="utf-8"))
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
    taken: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for cell in [
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        ]:
            assert cell not in taken, f"{panel['title']} overlaps {taken[cell]}"
            taken[cell] = panel["title"]


# -- every SQL query, on PostgreSQL ---------------------------------------------------------


def grafana_sql(sql: str, values: Mapping[str, tuple[list[str], bool]]) -> str:
    """``sql`` as Grafana sends it for the time range ``WEEK`` and the variables' values (each
    a list of values and whether the variable is multi-value)."""
    expanded = MACRO.sub(lambda m: f"{m[1]} >= {WEEK[0]} AND {m[1]} <= {WEEK[1]}", sql)

    def variable(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in values:
            pytest.fail(f"${name} is neither a variable set before nor a macro this test knows")
        chosen, multi = values[name]
        if multi:
            return ",".join("'" + value.replace("'", "''") + "'" for value in chosen)
        return chosen[0].replace("'", "''")

    expanded = VARIABLE.sub(variable, expanded)
    assert "$" not in expanded, expanded
    return expanded


def run(connection: psycopg.Connection[Any], sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with connection.cursor() as cursor:
        cursor.execute(sql.encode())
        assert cursor.description is not None
        return [column.name for column in cursor.description], cursor.fetchall()


@pytest.fixture(scope="module")
def reader(postgres: PostgresCluster) -> Iterator[psycopg.Connection[Any]]:
    """Grafana's connection to a roll-up store holding the sample log of tenant ``demo``,
    sensor readings, and another tenant's figures, with the role the init script makes."""
    dsn = postgres.create_database()
    database = urlsplit(dsn).path.lstrip("/")
    environment = {
        **os.environ,
        "PATH": f"{postgres_bin_dir()}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": database,
        "GRAFANA_DB_PASSWORD": "not-checked-by-trust-auth",
    }
    result = subprocess.run(
        ["sh", str(INIT_SCRIPT)], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    store = PostgresRollupStore(dsn).open()  # the roll-up's own tables, created by their owner
    etl = etl_readings()
    try:
        store.apply(
            [record(etl[i : i + 100], f"etl-{i}", tenant=TENANT) for i in range(0, len(etl), 100)]
            + [record(sensor_readings(), "sensors", tenant=TENANT)]
            + [record(sensor_readings(), "other", tenant="other")]
        )
    finally:
        store.close()
    parts = urlsplit(dsn)
    netloc = f"{READER}@{parts.hostname}:{parts.port}"
    with psycopg.connect(urlunsplit(parts._replace(netloc=netloc)), autocommit=True) as connection:
        yield connection


def etl_readings() -> list[Reading]:
    parser = EtlLogParser("Europe/Paris")
    return [reading for line in sample_runs(raw=True) for reading in parser.readings(line)]


def sample_runs(raw: bool = False) -> list[Any]:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    return lines if raw else [json.loads(line) for line in lines]


def sensor_readings() -> list[Reading]:
    return [
        Reading(
            device_id=device,
            metric=metric,
            value=float(n),
            time_unix_nano=(SENSOR_HOUR + 60 * n) * 1_000_000_000,
        )
        for device in ("boiler-7", "pump-2")
        for metric in ("temperature", "pressure")
        for n in range(10)
    ]


@pytest.fixture(scope="module")
def variables(reader: psycopg.Connection[Any]) -> dict[str, tuple[list[str], bool]]:
    """Each variable's value, its query run in order: the one tenant with the sample, and
    "All" for the multi-value ones."""
    board = json.loads(ROLLUPS.read_text(encoding="utf-8"))
    values: dict[str, tuple[list[str], bool]] = {}
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        _, rows = run(reader, grafana_sql(variable["query"], values))
        options = [str(row[0]) for row in rows]
        assert options, variable["name"]
        if variable["name"] == "tenant":
            assert options == ["demo", "other"]
            options = [TENANT]
        values[variable["name"]] = (options, variable["multi"])
    return values


@pytest.mark.integration
def test_the_variables_list_what_the_store_holds(
    variables: dict[str, tuple[list[str], bool]],
) -> None:
    jobs = {json.loads(line)["Objet"] for line in sample_runs(raw=True)}
    assert len(variables["etl_job"][0]) == len(jobs)
    assert set(variables["device"][0]) == set(variables["etl_job"][0]) | {"boiler-7", "pump-2"}
    assert set(variables["metric"][0]) >= {"etl.success", "etl.duration", "temperature"}


def panel_results(
    reader: psycopg.Connection[Any], variables: Mapping[str, tuple[list[str], bool]]
) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every panel's query result by title; a time series' first column is its time."""
    board = json.loads(ROLLUPS.read_text(encoding="utf-8"))
    results = {}
    for panel in panels(board):
        [target] = panel["targets"]
        columns, rows = run(reader, grafana_sql(target["rawSql"], variables))
        assert rows, f"{panel['title']}: no rows"
        if target["format"] == "time_series":
            assert columns[0] == "time", panel["title"]
            assert all(isinstance(row[0], datetime) for row in rows), panel["title"]
        results[panel["title"]] = (columns, rows)
    return results


@pytest.mark.integration
def test_every_panel_query_gives_the_sample_logs_figures(
    reader: psycopg.Connection[Any], variables: dict[str, tuple[list[str], bool]]
) -> None:
    runs = sample_runs()
    failed = sum(run["Etat"] == "FAILED" for run in runs)
    durations = [run["Duree secondes"] for run in runs]
    results = panel_results(reader, variables)
    assert len(results) == len(panels(json.loads(ROLLUPS.read_text(encoding="utf-8"))))

    assert results["Runs"][1] == [(len(runs),)]
    assert results["Failed runs"][1] == [(failed,)]
    assert results["Failure rate"][1][0][0] == pytest.approx(failed / len(runs))
    assert results["Mean run duration"][1][0][0] == pytest.approx(statistics.mean(durations))

    columns, hours = results["Runs per hour"]
    assert columns == ["time", "succeeded", "failed"]
    assert sum(row[1] for row in hours) == len(runs) - failed
    assert sum(row[2] for row in hours) == failed

    columns, points = results["Run duration"]
    assert columns == ["time", "metric", "value"]
    assert max(value for _, series, value in points if series == "longest run") == max(durations)

    columns, jobs = results["Failures by job"]
    assert columns[:3] == ["job", "runs", "failed"]
    assert sum(row[1] for row in jobs) == len(runs)
    assert sum(row[2] for row in jobs) == failed
    assert [row[2] for row in jobs] == sorted((row[2] for row in jobs), reverse=True)

    sensors = len(sensor_readings())
    etl = len(etl_readings())
    assert sum(row[2] for row in results["Readings per hour, by device and metric"][1]) == (
        etl + sensors
    )
    columns, table = results["Devices and metrics"]
    assert columns[:3] == ["device", "metric", "readings"]
    assert sum(row[2] for row in table) == etl + sensors
    [boiler] = [row for row in table if row[:2] == ("boiler-7", "temperature")]
    assert boiler[2:6] == (10, 4.5, 0.0, 9.0)


@pytest.mark.integration
def test_grafanas_role_may_read_the_roll_ups_and_nothing_more(
    reader: psycopg.Connection[Any],
) -> None:
    assert run(reader, "SELECT COUNT(*) FROM rollup_processed")[1][0][0] > 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute("DELETE FROM rollup_hourly")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute("CREATE TABLE scratch (x int)")
