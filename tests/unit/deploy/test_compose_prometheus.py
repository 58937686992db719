"""The compose stack's Prometheus: the files compose.yaml mounts, laid out as the container
sees them, pass ``promtool check config`` (Debian's prometheus package), alert rules included."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.compose import COMPOSE_DIR, compose, make_env, mounts

PROMTOOL_TIMEOUT_S = 60.0
CONFIG_FILE = "/etc/prometheus/prometheus.yml"
"""Where the prom/prometheus image reads its configuration by default."""
ALERTS = COMPOSE_DIR.parent / "prometheus" / "alerts.yml"


def prometheus_service() -> dict[str, Any]:
    service: dict[str, Any] = compose(make_env())["services"]["prometheus"]
    return service


def container_files(root: Path) -> Path:
    """Copy the service's bind-mounted files to ``root`` + their container paths; returns
    where the configuration lands."""
    for mount in mounts(prometheus_service()):
        if mount.bind:
            target = root / mount.target.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(mount.host_path, target)
    return root / CONFIG_FILE.lstrip("/")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not on PATH: `make install` installs Debian's prometheus")
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT_S, check=False
    )


def test_promtool_accepts_the_config_and_its_rule_file(tmp_path: Path) -> None:
    config = container_files(tmp_path)
    result = promtool("check", "config", str(config))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    rules = len(
        [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    )
    assert "SUCCESS: 1 rule files found" in output, output
    assert f"SUCCESS: {rules} rules found" in output, output


def test_promtool_fails_when_the_rule_file_is_not_mounted(tmp_path: Path) -> None:
    config = container_files(tmp_path)
    (config.parent / "alerts.yml").unlink()
    result = promtool("check", "config", str(config))
    assert result.returncode != 0
    assert "alerts.yml" in result.stdout + result.stderr


def test_the_rule_file_mounted_is_the_repositorys_alert_rules() -> None:
    [mount] = [m for m in mounts(prometheus_service()) if m.target.endswith("/alerts.yml")]
    assert mount.host_path == ALERTS
    config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    [rule_file] = config["rule_files"]
    assert str(Path(CONFIG_FILE).parent / rule_file) == mount.target
