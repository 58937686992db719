"""The config the chart renders, loaded the way the pod loads it: files from the volumes,
secrets from the environment, and Kubernetes service links in the way."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from sluice.core.config.settings import Settings, load_settings
from tests.support.deploy import (
    EXTERNAL_KAFKA_PASSWORD,
    SERVICE_LINKS,
    lay_out_pod,
    pod_spec,
    production_values,
    render_chart,
    rendered_config,
    secret_data,
    server_container,
)

CASES: dict[str, dict[str, Any]] = {"defaults": {}, "production": production_values()}


def load(values: dict[str, Any], root: Path) -> tuple[Settings, list[dict[str, Any]]]:
    pod, objects = lay_out_pod(values, root)
    return load_settings(pod.config_path(), pod.environment(SERVICE_LINKS)), objects


@pytest.mark.parametrize("case", list(CASES))
def test_the_rendered_config_loads_with_the_pod_environment(case: str, tmp_path: Path) -> None:
    settings, objects = load(CASES[case], tmp_path)
    ports = {p["name"]: p["containerPort"] for p in server_container(pod_spec(objects))["ports"]}
    assert settings.server.listen == f"0.0.0.0:{ports['grpc']}"
    assert settings.ops.listen == f"0.0.0.0:{ports['metrics']}"
    assert settings.auth.mode == "token"


def test_the_generated_token_authenticates_the_default_tenant(tmp_path: Path) -> None:
    settings, objects = load({}, tmp_path)
    client_token = next(
        secret_data(o)["token"] for o in objects if o["metadata"]["name"] == "sluice-client-token"
    )
    (token,) = settings.auth.tokens
    assert token.tenant == "default"
    assert token.scopes == ("ingest",)
    assert token.sha256 == f"sha256:{hashlib.sha256(client_token).hexdigest()}"


def test_production_tokens_tls_and_kafka_credentials_reach_the_server(tmp_path: Path) -> None:
    settings, _ = load(production_values(), tmp_path)
    assert [(t.tenant, t.scopes) for t in settings.auth.tokens] == [
        ("acme", ("ingest",)),
        ("acme", ("query",)),
        ("globex", ("ingest",)),
    ]
    assert settings.server.tls is not None
    assert settings.server.tls.client_ca_file is not None
    client = settings.kafka.client
    assert client["security.protocol"] == "SASL_SSL"
    assert client["sasl.password"] == EXTERNAL_KAFKA_PASSWORD
    assert Path(str(client["ssl.ca.location"])).is_file()
    assert settings.kafka.topic == "plant.readings.v1"
    assert settings.http.enabled
    assert settings.http.listen == "0.0.0.0:8081"
    assert settings.http.tls == settings.server.tls


def test_user_config_cannot_move_the_listeners_the_pod_exposes() -> None:
    values = {"config": {"server": {"listen": "127.0.0.1:1"}, "ops": {"listen": "127.0.0.1:2"}}}
    config = rendered_config(render_chart(values))
    assert config["server"]["listen"] == "0.0.0.0:50051"
    assert config["ops"]["listen"] == "0.0.0.0:9464"
