"""What the chart renders, run for real: ``sluice check-config`` with the pod's files and
environment, the probes against a running server, and the topics Job's command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from confluent_kafka.admin import AdminClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.core.netutil import free_port
from sluice.core.record_contract import DEFAULT_DLQ_TOPIC, DEFAULT_TOPIC
from sluice.embedded.broker import TansuBroker
from tests.support.deploy import (
    SERVICE_LINKS,
    PodFixture,
    lay_out_pod,
    production_values,
)
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.e2e

COMMAND_TIMEOUT_S = 60.0
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
TLS_VALUES = {"tls": {"enabled": True, "secretName": "sluice-grpc-tls"}}
READINESS_TIMEOUT_S = 20.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def run_sluice(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``sluice ARGS`` with exactly the pod's environment (plus what runs Python here)."""
    host = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "sluice", *args],
        capture_output=True,
        text=True,
        env={**host, **env},
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


@pytest.mark.parametrize(
    "values", [{}, production_values()], ids=["default values", "production values"]
)
def test_check_config_accepts_what_the_chart_renders_in_the_pod_environment(
    values: dict[str, Any], tmp_path: Path
) -> None:
    pod, _ = lay_out_pod(values, tmp_path)
    result = run_sluice(
        ["check-config", "--config", str(pod.config_path())], pod.environment(SERVICE_LINKS)
    )
    assert result.returncode == 0, result.stderr
    assert "config OK: grpc 0.0.0.0:50051, ops 0.0.0.0:9464" in result.stdout


def server_for(pod: PodFixture, workdir: Path, bootstrap: str) -> SluiceServer:
    """The pod's server on loopback ports, its config and environment otherwise as rendered."""
    config = yaml.safe_load(pod.config_path().read_text())
    del config["server"]["listen"], config["ops"]["listen"]
    config["kafka"]["bootstrap_servers"] = bootstrap
    return SluiceServer(config, workdir, env=pod.environment())


def probe_passes(probe: dict[str, Any], server: SluiceServer) -> bool:
    """What the kubelet would conclude, asking without credentials as it does."""
    if "httpGet" in probe:
        assert probe["httpGet"]["port"] == "metrics"
        return server.http_status(probe["httpGet"]["path"]) == 200
    with grpc.insecure_channel(server.target) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        request = health_pb2.HealthCheckRequest(service=probe["grpc"].get("service", ""))
        response = check(request, timeout=probe["timeoutSeconds"])
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


@pytest.mark.parametrize("values", [{}, TLS_VALUES], ids=["grpc probes", "tls: http probes"])
def test_probes_pass_without_credentials_while_kafka_is_unreachable(
    values: dict[str, Any], tmp_path: Path
) -> None:
    pod, _ = lay_out_pod(values, tmp_path / "pod")
    nobody_listens = f"127.0.0.1:{free_port()}"
    with server_for(pod, tmp_path, nobody_listens) as server:
        verdicts = {name: probe_passes(pod.container[name], server) for name in PROBES}
    assert verdicts == dict.fromkeys(PROBES, True)


def test_the_topics_job_creates_both_topics(tmp_path: Path) -> None:
    topics = {
        "create": True,
        "partitions": 3,
        "replicationFactor": 1,
        "config": {"retention.ms": 1},
    }
    pod, objects = lay_out_pod({"kafka": {"topics": topics}}, tmp_path)
    job = next(obj for obj in objects if obj["kind"] == "Job")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    args[args.index("--config") + 1] = str(pod.config_path())
    with TansuBroker() as broker:
        env = {**pod.environment(), "SLUICE__KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap}
        first = run_sluice(args, env)
        again = run_sluice(args, env)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        created = admin.list_topics(timeout=10).topics
    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert {DEFAULT_TOPIC, DEFAULT_DLQ_TOPIC} <= set(created)
    assert len(created[DEFAULT_TOPIC].partitions) == 3


def health(server: SluiceServer, service: str) -> int:
    with grpc.insecure_channel(server.target) as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        status: int = health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status
        return status


def test_a_kafka_outage_without_a_spool_fails_readiness_and_never_liveness(
    tmp_path: Path,
) -> None:
    pod, _ = lay_out_pod({"spool": {"enabled": False}}, tmp_path / "pod")
    liveness = pod.container["livenessProbe"]["grpc"].get("service", "")
    readiness = pod.container["readinessProbe"]["grpc"]["service"]
    with TansuBroker() as broker, server_for(pod, tmp_path, broker.bootstrap) as server:
        before = {"liveness": health(server, liveness), "readiness": health(server, readiness)}
        broker.stop()
        deadline = time.monotonic() + READINESS_TIMEOUT_S
        while health(server, readiness) == SERVING and time.monotonic() < deadline:
            time.sleep(0.1)
        during = {"liveness": health(server, liveness), "readiness": health(server, readiness)}
    assert before == {"liveness": SERVING, "readiness": SERVING}
    assert during == {"liveness": SERVING, "readiness": NOT_SERVING}
