"""The README stays true: every reason code and every config key is documented there."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from sluice.core import reasons
from sluice.downstream.query.metrics import QueryMetrics
from sluice.downstream.rollup.metrics import RollupMetrics
from sluice.ops.metrics import Metrics
from sluice.runtime.configdoc import reference

README = Path(__file__).parents[2] / "README.md"


def test_every_reason_code_is_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([A-Z_]+)` \| (?:reading|batch) \|", text, re.M))
    assert listed == set(reasons.ALL_REASONS)


def test_the_config_reference_matches_the_config_models() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(
        r"<!-- config-reference:start -->\n(.*?)<!-- config-reference:end -->", text, re.S
    )
    assert match is not None, "README lost its config-reference markers"
    assert match.group(1) == reference(), (
        "README config reference is stale: run `make docs` (python -m sluice.runtime.configdoc)"
    )


@pytest.mark.parametrize("kind", [Metrics, RollupMetrics, QueryMetrics])
def test_every_metric_is_in_the_readme(kind: Callable[[CollectorRegistry], object]) -> None:
    registry = CollectorRegistry()
    kind(registry)
    text = README.read_text(encoding="utf-8")
    missing = [m.name for m in registry.collect() if f"`{m.name}" not in text]
    assert missing == [], f"metrics missing from the README: {missing}"
