"""``sluice check-config``: typos fail naming the key; a Kubernetes pod's environment passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures"


def check_config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE")}
    return subprocess.run(
        [sys.executable, "-m", "sluice", "check-config", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
        check=False,
    )


def test_a_typo_fails_and_names_the_key() -> None:
    result = check_config("--config", str(FIXTURES / "typo.yaml"))
    assert result.returncode == 2
    assert "kafka.bootstrap_server: unknown key" in result.stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SLUICE__KAFKA__LINGER_MS": "soon"}, "kafka.linger_ms"),
        ({"SLUICE__KAFKA__CLIENT": '{"acks": "1"}'}, "kafka.client"),
        ({"SLUICE__SERVER__LISTEN": "0.0.0.0:50051"}, "auth.mode"),
        ({"SLUICE__KAFKA__NOPE": "1"}, "kafka.nope"),
        # What librdkafka refuses, which used to pass here and crash `serve` as it started:
        ({"SLUICE__KAFKA__LINGER_MS": "1e30"}, "kafka.linger_ms"),
        ({"SLUICE__KAFKA__CLIENT__SSL.CA.LOCATON": "/ca.crt"}, "ssl.ca.locaton"),
        ({"SLUICE__KAFKA__LINGER_MS": "40000"}, "(kafka.delivery_timeout_ms)"),
    ],
)
def test_bad_overrides_fail_and_name_the_key(env: dict[str, str], named: str) -> None:
    result = check_config(
        "--config",
        str(FIXTURES / "interpolated.yaml"),
        env={"KAFKA_BOOTSTRAP": "kafka:9092", **env},
    )
    assert result.returncode == 2
    assert named in result.stderr


def test_a_missing_variable_is_named() -> None:
    result = check_config("--config", str(FIXTURES / "interpolated.yaml"))
    assert result.returncode == 2
    assert "KAFKA_BOOTSTRAP" in result.stderr


def test_a_kubernetes_pod_environment_is_accepted() -> None:
    pod_env = {
        # Service links that Kubernetes injects for a Service named "sluice": no double
        # underscore after SLUICE, so they are not config overrides.
        "SLUICE_PORT": "tcp://10.96.0.12:50051",
        "SLUICE_PORT_50051_TCP": "tcp://10.96.0.12:50051",
        "SLUICE_PORT_50051_TCP_ADDR": "10.96.0.12",
        "SLUICE_SERVICE_HOST": "10.96.0.12",
        "SLUICE_SERVICE_PORT": "50051",
        "KAFKA_BOOTSTRAP": "kafka-bootstrap.kafka:9092",
        "SLUICE__KAFKA__TOPIC": "plant.readings.v1",
        "SLUICE__CHECKS__MAX_TAGS": "4",
    }
    result = check_config("--config", str(FIXTURES / "interpolated.yaml"), env=pod_env)
    assert result.returncode == 0, result.stderr
    assert "kafka-bootstrap.kafka:9092 -> plant.readings.v1" in result.stdout


NO_TEMP_DIR = """
import sys, tempfile
tempfile.tempdir = "/nonexistent/sluice-test"  # as on a read-only root with no /tmp volume
from sluice.runtime.cli import main
sys.exit(main(["serve", "--workers", "2"]))
"""


def test_workers_without_a_writable_temporary_directory_say_so() -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE")}
    result = subprocess.run(
        [sys.executable, "-c", NO_TEMP_DIR],
        capture_output=True,
        text=True,
        env=base,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "--workers needs a writable temporary directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sluice.yaml"
    path.write_bytes(b"\xff\xfeserver: {}\n")

    result = check_config("--config", str(path))

    assert result.returncode == 2
    assert f"config file {path} is not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr
