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
    CHART_JOBS,
    OPERATIONS_GUIDE,
    PROCESS_KINDS,
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
    "SluiceRollupStoreErrors",
    "SluiceRollupCommitErrors",
    "SluiceRollupConsumerLag",
    "SluiceQueryErrors",
}
HEALTHY_DOWNSTREAM = "a scrape of a healthy roll-up and query raises no alert"
DOWNSTREAM_JOBS = {CHART_JOBS[kind]: kind for kind in ("rollup", "query")}


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


def alert_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))["tests"]
    return tests


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", ALERT_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_required_alert_exists() -> None:
    assert {rule["alert"] for rule in alert_rules()} == REQUIRED_ALERTS


def test_every_alert_has_a_unit_test_where_it_fires() -> None:
    fired = {
        case["alertname"]
        for test in alert_tests()
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


def test_the_healthy_rollup_and_query_case_holds_exactly_what_they_export() -> None:
    [healthy] = [test for test in alert_tests() if test["name"] == HEALTHY_DOWNSTREAM]
    scraped: dict[str, set[str]] = {kind: set() for kind in DOWNSTREAM_JOBS.values()}
    for item in healthy["input_series"]:
        name, labels = item["series"].split("{", 1)
        job = re.search(r'job="([^"]+)"', labels)
        assert job is not None, item["series"]
        assert job[1] in DOWNSTREAM_JOBS, item["series"]
        scraped[DOWNSTREAM_JOBS[job[1]]].add(name)
    assert scraped == {kind: exported_series_names(kind) for kind in scraped}


def test_the_healthy_rollup_and_query_raise_no_alert_once_every_for_has_passed() -> None:
    [healthy] = [test for test in alert_tests() if test["name"] == HEALTHY_DOWNSTREAM]
    # Past the longest `for`, with the 5-minute rate windows full.
    longest_for_s = max(duration_s(rule["for"]) for rule in alert_rules())
    quiet = {
        case["alertname"]
        for case in healthy["alert_rule_test"]
        if case["exp_alerts"] == [] and duration_s(case["eval_time"]) > longest_for_s + 300
    }
    assert quiet == REQUIRED_ALERTS


def duration_s(text: str) -> int:
    """Seconds of a Prometheus duration such as ``1h``, ``15m`` or ``2m45s``."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", text)
    assert "".join(n + u for n, u in parts) == text, f"unsupported duration {text}"
    return sum(int(n) * units[u] for n, u in parts)


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_reads_only_the_families_of_its_component(rule: dict[str, Any]) -> None:
    read = metric_names_in(rule["expr"])
    component = rule["labels"].get("component")
    if component is None:
        # The one rule over all components: its component comes from sluice_ready's label.
        assert read == {"sluice_ready"}
        groupings = re.findall(r"\bby \(([^)]*)\)", rule["expr"])
        assert groupings
        assert all("component" in grouping.split(", ") for grouping in groupings)
        return
    others = set().union(*(exported_series_names(k) for k in PROCESS_KINDS if k != component))
    assert read <= exported_series_names(component) - others


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
