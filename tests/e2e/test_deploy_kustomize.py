"""deploy/k8s: the kustomize base is the Helm chart's default render, the example overlay
builds, every object passes strict Kubernetes validation, and the overlay's pod loads its
config."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.core.config.settings import load_settings
from tests.support.deploy import (
    KUBERNETES_VERSIONS,
    KUSTOMIZE_BASE,
    KUSTOMIZE_EXAMPLE,
    SERVICE_LINKS,
    Manifest,
    PodFixture,
    kind_name,
    kustomize,
    pod_spec,
    render_chart,
    server_container,
    validation_errors,
)

pytestmark = pytest.mark.e2e

HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version")
CONFIG_MAP = "sluice"


@pytest.fixture(scope="module")
def base() -> list[Manifest]:
    return kustomize(KUSTOMIZE_BASE)


@pytest.fixture(scope="module")
def example() -> list[Manifest]:
    return kustomize(KUSTOMIZE_EXAMPLE)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_base_and_example_pass_strict_validation(
    base: list[Manifest], example: list[Manifest], version: str
) -> None:
    assert validation_errors(base, version) == []
    assert validation_errors(example, version) == []


def comparable(objects: list[Manifest]) -> dict[str, Manifest]:
    """Objects by Kind/name without what only Helm or only kustomize adds: Helm's labels and
    checksum annotations, kustomize's ConfigMap name hash; Secrets left out (the base has none);
    the config file parsed."""
    generated = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    found = {}
    for original in objects:
        if original["kind"] == "Secret":
            continue
        obj = copy.deepcopy(original)
        for metadata in (obj["metadata"], obj.get("spec", {}).get("template", {}).get("metadata")):
            if metadata is None:
                continue
            for label in HELM_ONLY_LABELS:
                metadata.get("labels", {}).pop(label, None)
            annotations = metadata.pop("annotations", {})
            kept = {k: v for k, v in annotations.items() if not k.startswith("checksum/")}
            if kept:
                metadata["annotations"] = kept
        if obj["kind"] == "ConfigMap":
            obj["metadata"]["name"] = CONFIG_MAP
            obj["data"] = {key: yaml.safe_load(text) for key, text in obj["data"].items()}
        for volume in obj.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []):
            if volume.get("configMap", {}).get("name") in generated:
                volume["configMap"]["name"] = CONFIG_MAP
        found[kind_name(obj)] = obj
    return found


def test_the_base_is_the_charts_default_render(base: list[Manifest]) -> None:
    chart = comparable(render_chart({}))
    kustomized = comparable(base)
    assert sorted(kustomized) == sorted(chart)
    for name, obj in chart.items():
        assert kustomized[name] == obj, f"{name} differs from the chart's"


def test_the_example_overlay_pod_loads_its_config(example: list[Manifest], tmp_path: Path) -> None:
    spec = pod_spec(example)
    pod = PodFixture(example, spec, server_container(spec), tmp_path)
    pod.lay_out()
    settings = load_settings(pod.config_path(), pod.environment(SERVICE_LINKS))
    assert settings.kafka.bootstrap_servers.startswith("kafka-0.kafka.data:9092")
    assert [token.tenant for token in settings.auth.tokens] == ["acme"]
    assert {obj["metadata"].get("namespace") for obj in example} == {"ingest"}


def test_the_example_overlay_pins_the_image(example: list[Manifest]) -> None:
    image: Any = server_container(pod_spec(example))["image"]
    assert image == "registry.example.com/platform/sluice:0.1.0"
