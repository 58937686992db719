"""ServiceMonitor and PrometheusRule against the prometheus-operator CRDs' fields.

kubernetes-validate has no schema for custom resources, so the fields of
monitoring.coreos.com/v1 ServiceMonitor and PrometheusRule are embedded here, as the
operator's CRDs (v0.84, example/prometheus-operator-crd/) declare them: every object level
the chart renders lists its allowed fields, and an unknown one fails.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from observability_names import CHART_JOBS

from tests.support.deploy import find, production_values, render_chart

DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": STRING_MAP, "matchExpressions": {"type": "array"}},
}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "labels": STRING_MAP, "annotations": STRING_MAP},
}


def custom_resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A schema for a monitoring.coreos.com/v1 object of ``kind`` with this spec."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
    }


ENDPOINT_FIELDS = [
    "authorization",
    "basicAuth",
    "bearerTokenFile",
    "bearerTokenSecret",
    "enableHttp2",
    "filterRunning",
    "followRedirects",
    "honorLabels",
    "honorTimestamps",
    "interval",
    "metricRelabelings",
    "noProxy",
    "oauth2",
    "params",
    "path",
    "port",
    "proxyConnectHeader",
    "proxyFromEnvironment",
    "proxyUrl",
    "relabelings",
    "scheme",
    "scrapeTimeout",
    "targetPort",
    "tlsConfig",
    "trackTimestampsStaleness",
]
SERVICE_MONITOR_SPEC_FIELDS = [
    "attachMetadata",
    "bodySizeLimit",
    "convertClassicHistogramsToNHCB",
    "endpoints",
    "fallbackScrapeProtocol",
    "jobLabel",
    "keepDroppedTargets",
    "labelLimit",
    "labelNameLengthLimit",
    "labelValueLengthLimit",
    "namespaceSelector",
    "nativeHistogramBucketLimit",
    "nativeHistogramMinBucketFactor",
    "podTargetLabels",
    "sampleLimit",
    "scrapeClass",
    "scrapeClassicHistograms",
    "scrapeProtocols",
    "selector",
    "selectorMechanism",
    "targetLabels",
    "targetLimit",
]
ENDPOINT_TYPES: dict[str, Any] = {
    "path": {"type": "string"},
    "port": {"type": "string"},
    "scheme": {"enum": ["http", "https"]},
    "interval": {"type": "string", "pattern": DURATION},
    "scrapeTimeout": {"type": "string", "pattern": DURATION},
    "honorLabels": {"type": "boolean"},
}
SERVICE_MONITOR = custom_resource(
    "ServiceMonitor",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["endpoints", "selector"],
        "properties": {
            **{field: {} for field in SERVICE_MONITOR_SPEC_FIELDS},
            "jobLabel": {"type": "string"},
            "selector": SELECTOR,
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {**{field: {} for field in ENDPOINT_FIELDS}, **ENDPOINT_TYPES},
                },
            },
        },
    },
)
RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expr"],
    "properties": {
        "alert": {"type": "string"},
        "record": {"type": "string"},
        "expr": {"type": ["string", "integer"]},
        "for": {"type": "string", "pattern": DURATION},
        "keep_firing_for": {"type": "string", "minLength": 1, "pattern": DURATION},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
}
PROMETHEUS_RULE = custom_resource(
    "PrometheusRule",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "interval": {"type": "string", "pattern": DURATION},
                        "labels": STRING_MAP,
                        "limit": {"type": "integer"},
                        "partial_response_strategy": {"type": "string"},
                        "query_offset": {"type": "string", "pattern": DURATION},
                        "rules": {"type": "array", "items": RULE},
                    },
                },
            }
        },
    },
)


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render_chart(production_values())


def errors(schema: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]


MONITORED_SERVICES = {
    "sluice": CHART_JOBS["gateway"],
    "sluice-rollup": CHART_JOBS["rollup"],
    "sluice-query": CHART_JOBS["query"],
}
"""Each ServiceMonitor production values render, and the one Service it must select."""


@pytest.mark.parametrize("monitor", list(MONITORED_SERVICES))
def test_service_monitor_uses_only_crd_fields(objects: list[dict[str, Any]], monitor: str) -> None:
    assert errors(SERVICE_MONITOR, find(objects, "ServiceMonitor", monitor)) == []


def test_every_service_monitor_is_checked(objects: list[dict[str, Any]]) -> None:
    monitors = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceMonitor"}
    assert monitors == set(MONITORED_SERVICES)


def test_prometheus_rule_uses_only_crd_fields(objects: list[dict[str, Any]]) -> None:
    rule = find(objects, "PrometheusRule")
    assert rule["spec"]["groups"], "the rule file has no groups"
    assert errors(PROMETHEUS_RULE, rule) == []


def test_the_embedded_schemas_refuse_an_unknown_field(objects: list[dict[str, Any]]) -> None:
    monitor = find(objects, "ServiceMonitor", "sluice")
    typo = {**monitor, "spec": {**monitor["spec"], "endpoint": monitor["spec"]["endpoints"]}}
    rule = find(objects, "PrometheusRule")
    group = {**rule["spec"]["groups"][0], "rule": []}
    assert errors(SERVICE_MONITOR, typo) != []
    assert errors(PROMETHEUS_RULE, {**rule, "spec": {"groups": [group]}}) != []


@pytest.mark.parametrize("monitor", list(MONITORED_SERVICES))
def test_each_component_is_scraped_as_a_job_named_after_its_metrics_service(
    objects: list[dict[str, Any]], monitor: str
) -> None:
    # Without jobLabel the operator names the job after the selected Service, which the
    # alert tests (deploy/prometheus/alerts_test.yml) take as each component's job.
    spec = find(objects, "ServiceMonitor", monitor)["spec"]
    assert "jobLabel" not in spec
    assert not any("relabelings" in endpoint for endpoint in spec["endpoints"])


@pytest.mark.parametrize(("monitor", "service"), list(MONITORED_SERVICES.items()))
def test_service_monitor_selects_only_the_metrics_service_by_its_port_name(
    objects: list[dict[str, Any]], monitor: str, service: str
) -> None:
    spec = find(objects, "ServiceMonitor", monitor)["spec"]
    wanted = spec["selector"]["matchLabels"].items()
    services = [o for o in objects if o["kind"] == "Service"]
    selected = [s for s in services if wanted <= s["metadata"]["labels"].items()]
    assert [s["metadata"]["name"] for s in selected] == [service]
    port_names = {port["name"] for port in selected[0]["spec"]["ports"]}
    assert {endpoint["port"] for endpoint in spec["endpoints"]} <= port_names
