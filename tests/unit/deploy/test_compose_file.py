"""deploy/compose/compose.yaml: valid by the Compose Specification's JSON schema, closed to
the outside (127.0.0.1 ports, token auth), started in order by health checks, and in step
with the Sluice configs it mounts, its ``.env`` tooling and its sample ETL log.

tests/e2e/test_compose_stack.py runs its Sluice services; test_compose_prometheus.py and
test_compose_grafana.py check Prometheus's and Grafana's files.
"""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from io import StringIO
from typing import Any

import jsonschema
import pytest
import yaml

from sluice.core.config.auth import token_digest
from sluice.core.config.settings import Settings, load_settings
from sluice_client.replay.etl import EtlLogParser
from tests.support.compose import (
    COMPOSE_DIR,
    COMPOSE_FILE,
    COMPOSE_SCHEMA,
    ENV_EXAMPLE,
    REPO,
    UnsetVariable,
    compose,
    config_mount,
    make_env,
    mounts,
    parse_env,
    ports,
    raw_compose,
    sluice_services,
    variables_used,
)

SCHEMA_DRAFT = jsonschema.Draft201909Validator
"""The draft the schema's ``$schema`` names (spelt in a form jsonschema does not look up)."""
SAMPLE = COMPOSE_DIR / "sample" / "etl-runs.jsonl"
SAMPLE_SCRIPT = COMPOSE_DIR / "sample" / "generate.py"
PINNED_TAG = re.compile(r"^[a-z0-9./-]+:v?\d+(\.\d+){1,2}$")
"""An image named by a full version tag (never ``latest``, never a bare major; PostgreSQL's
versions have two parts)."""


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return make_env()


@pytest.fixture(scope="module")
def stack(env: dict[str, str]) -> dict[str, Any]:
    return compose(env)


def test_the_file_validates_against_the_compose_specification_schema() -> None:
    if not COMPOSE_SCHEMA.is_file():
        pytest.fail(f"{COMPOSE_SCHEMA} is missing: `make install` runs npm ci in tools/")
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    SCHEMA_DRAFT.check_schema(schema)
    errors = sorted(
        SCHEMA_DRAFT(schema).iter_errors(raw_compose()), key=lambda error: list(error.path)
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_misspelt_key() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    broken = raw_compose()
    broken["services"]["gateway"]["depends_on"]["create-topics"] = {"condtion": "x"}
    assert not SCHEMA_DRAFT(schema).is_valid(broken)


def test_every_published_port_is_bound_to_loopback(stack: dict[str, Any]) -> None:
    published = {
        (name, port.host_ip, port.published)
        for name, service in stack["services"].items()
        for port in ports(service)
    }
    assert {name for name, _, _ in published} == {"gateway", "query", "prometheus", "grafana"}
    assert {host_ip for _, host_ip, _ in published} == {"127.0.0.1"}


def test_every_image_is_pinned_and_sluice_is_built_from_this_repository(
    stack: dict[str, Any],
) -> None:
    services = stack["services"]
    expected = {"kafka": "apache/kafka", "postgres": "postgres"}
    expected |= {"prometheus": "prom/prometheus", "grafana": "grafana/grafana"}
    for name, repository in expected.items():
        image = services[name]["image"]
        assert image.split(":")[0] == repository, name
        assert PINNED_TAG.match(image), f"{name}: {image} is not pinned to a version"
    built = sluice_services(stack)
    assert set(built) == {"create-topics", "gateway", "rollup", "query", "replayer"}
    for name, service in built.items():
        context = (COMPOSE_DIR / service["build"]["context"]).resolve()
        assert context == REPO, name
        assert (context / service["build"]["dockerfile"]).is_file(), name
        assert service["read_only"] is True, name


def test_services_start_in_order_on_health_checks(stack: dict[str, Any]) -> None:
    services = stack["services"]
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        check = service.get("healthcheck", {})
        if one_shot:
            assert check == {"disable": True}, f"{name} exits: the image's check would fail"
        else:
            assert check.get("test"), f"{name} has no health check"
            assert not check.get("disable"), f"{name} has its health check disabled"
        for dependency, condition in service.get("depends_on", {}).items():
            waited = condition["condition"]
            if services[dependency].get("restart") == "no":
                assert waited == "service_completed_successfully", (name, dependency)
            else:
                assert waited == "service_healthy", (name, dependency)
    assert set(services["gateway"]["depends_on"]) == {"create-topics"}
    assert set(services["create-topics"]["depends_on"]) == {"kafka"}
    assert set(services["rollup"]["depends_on"]) == {"postgres", "create-topics"}
    assert set(services["replayer"]["depends_on"]) == {"gateway"}


def load_service_settings(service: dict[str, Any]) -> Settings:
    """The settings the service's ``--config`` gives inside its container."""
    return load_settings(config_mount(service).host_path, environ=service.get("environment", {}))


def test_every_sluice_service_loads_its_config_from_the_compose_environment(
    stack: dict[str, Any], env: dict[str, str]
) -> None:
    for name, service in sluice_services(stack).items():
        command = service["command"]
        if command[0] == "replay":
            continue
        settings = load_service_settings(service)
        if command[0] != "query":
            assert settings.kafka.bootstrap_servers == "kafka:9092", name
        if command[0] in ("serve", "query"):
            assert settings.auth.mode == "token", name
            assert [token.sha256 for token in settings.auth.tokens] == [
                token_digest(env["SLUICE_TOKEN"])
            ], name
        if command[0] in ("rollup", "query"):
            assert settings.rollup.store.backend == "postgres", name
            assert "@postgres:5432/sluice" in settings.rollup.store.postgres_dsn, name


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_published_ports_health_checks_and_scrape_targets_match_the_configs(
    stack: dict[str, Any],
) -> None:
    services = stack["services"]
    gateway = load_service_settings(services["gateway"])
    rollup = load_service_settings(services["rollup"])
    query = load_service_settings(services["query"])
    assert gateway.server.listen == "0.0.0.0:50051"
    assert [p.target for p in ports(services["gateway"])] == [port_of(gateway.server.listen)]
    assert [p.target for p in ports(services["query"])] == [port_of(query.query.listen)]
    ops_ports = {
        "gateway": port_of(gateway.ops.listen),
        "rollup": port_of(rollup.rollup.ops_listen),
        "query": port_of(query.query.ops_listen),
    }
    for name, port in ops_ports.items():
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in probe, name
    scrape = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {
        target
        for job in scrape["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    assert targets == {f"{name}:{port}" for name, port in ops_ports.items()}


def test_the_replayer_sends_the_mounted_sample_to_the_gateway_with_the_token(
    stack: dict[str, Any],
) -> None:
    replayer = stack["services"]["replayer"]
    command = replayer["command"]
    assert command[:2] == ["replay", "etl"]
    assert command[command.index("--target") + 1] == "gateway:50051"
    [sample] = [m for m in mounts(replayer) if command[2].startswith(m.target + "/")]
    assert sample.read_only
    assert sample.host_path / command[2].removeprefix(sample.target + "/") == SAMPLE
    assert "SLUICE_TOKEN" in replayer["environment"]


def test_bind_mounts_name_files_of_the_repository(stack: dict[str, Any]) -> None:
    for name, service in stack["services"].items():
        for mount in mounts(service):
            if mount.bind:
                assert mount.host_path.exists(), f"{name}: {mount.source}"
                assert mount.read_only, f"{name}: {mount.source} should be mounted :ro"
    named = {m.source for s in stack["services"].values() for m in mounts(s) if not m.bind}
    assert named == set(stack["volumes"])


def test_make_env_writes_every_variable_the_file_needs(env: dict[str, str]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    needed = variables_used(text) | {"COMPOSE_PROJECT_NAME"}  # compose itself reads it
    assert set(env) == needed == set(parse_env(ENV_EXAMPLE.read_text(encoding="utf-8")))
    assert env["COMPOSE_PROJECT_NAME"] == "sluice"
    assert env["SLUICE_TOKEN_SHA256"] == token_digest(env["SLUICE_TOKEN"])
    secrets = ["SLUICE_TOKEN", "POSTGRES_PASSWORD", "GRAFANA_DB_PASSWORD", "GRAFANA_ADMIN_PASSWORD"]
    assert all(len(env[key]) >= 32 for key in secrets)
    assert make_env()["SLUICE_TOKEN"] != env["SLUICE_TOKEN"], "tokens must be random"


def test_hash_token_prints_the_digest_make_env_writes(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sluice", "hash-token"],
        input=env["SLUICE_TOKEN"] + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == env["SLUICE_TOKEN_SHA256"]


@pytest.mark.parametrize("missing", ["SLUICE_TOKEN_SHA256", "POSTGRES_PASSWORD"])
def test_a_missing_variable_stops_compose_with_the_make_env_step(
    env: dict[str, str], missing: str
) -> None:
    incomplete = {key: value for key, value in env.items() if key != missing}
    with pytest.raises(UnsetVariable, match=rf"{missing}: run \./make-env\.sh > \.env"):
        compose(incomplete)


def test_the_env_file_stays_out_of_git() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", str(COMPOSE_DIR / ".env")],
        cwd=REPO,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, "deploy/compose/.env is not git-ignored"


def test_the_sample_is_what_its_seeded_script_writes() -> None:
    out = StringIO()
    runpy.run_path(str(SAMPLE_SCRIPT))["write"](out)
    assert out.getvalue() == SAMPLE.read_text(encoding="utf-8")


def test_the_sample_is_a_few_hundred_valid_runs_with_failures() -> None:
    parser = EtlLogParser("Europe/Paris")
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    states = [json.loads(line)["Etat"] for line in lines]
    assert 200 <= len(lines) <= 500
    assert 10 <= states.count("FAILED") < len(lines) / 4
    readings = [reading for line in lines for reading in parser.readings(line)]
    metrics = {reading.metric for reading in readings}
    assert metrics == {"etl.duration", "etl.cpu_time", "etl.memory_used", "etl.success"}
    assert sum(r.value for r in readings if r.metric == "etl.success") == states.count("SUCCESS")


def test_the_readme_gives_the_command_the_token_step_and_the_urls() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The whole stack with docker compose", 1)[1].split("\n## ", 1)[0]
    assert "./make-env.sh > .env" in section
    assert "docker compose up" in section
    assert "sluice hash-token" in section
    for service, port in [("gateway", 50051), ("query", 8080), ("grafana", 3000)]:
        assert f"127.0.0.1:{port}" in section, service
    assert "http://127.0.0.1:9090" in section
