"""The alert rules: valid for Prometheus, unit-tested with promtool, in step with the code
and the runbook."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from observability_names import (
    ALERT_TESTS,
    ALERTS,
    OPERATIONS_GUIDE,
    exported_series_names,
    metric_names_in,
)

PROMTOOL_TIMEOUT_S = 60.0
SEVERITIES = {"warning", "critical"}
REQUIRED_ALERTS = {
    "SluiceDeliveryErrors",
    "SluiceHighRejectionRate",
    "SluiceAckLatencyHigh",
    "SluiceSpoolFilling",
    "SluiceSpoolFull",
    "SluiceBrokerDown",
    "SluiceRateLimited",
    "SluiceNoPodReady",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not on PATH: `make install` installs Debian's prometheus")
    return subprocess.run(
        [binary, *args],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
        check=False,
        cwd=ALERTS.parent,
    )


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", ALERT_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_required_alert_exists() -> None:
    assert {rule["alert"] for rule in alert_rules()} == REQUIRED_ALERTS


def test_every_alert_has_a_unit_test_where_it_fires() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == REQUIRED_ALERTS


def test_every_metric_an_alert_reads_is_exported() -> None:
    exported = exported_series_names()
    unknown = {
        rule["alert"]: metric_names_in(rule["expr"]) - exported
        for rule in alert_rules()
        if metric_names_in(rule["expr"]) - exported
    }
    assert not unknown, f"alerts read metrics Sluice does not export: {unknown}"


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of ``markdown``."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_is_labelled_and_has_a_runbook_entry(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"]
    assert annotations["description"]
    path, _, anchor = annotations["runbook"].partition("#")
    assert path == "docs/operations.md"
    assert anchor == rule["alert"].lower()
    assert anchor in heading_anchors(OPERATIONS_GUIDE.read_text(encoding="utf-8"))
