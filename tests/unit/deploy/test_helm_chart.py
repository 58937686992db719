"""The Helm chart: lint, render, Kubernetes schemas, and what the pods it renders promise."""

from __future__ import annotations

import json
import math
from typing import Any

import helm_python
import pytest
import yaml
from prometheus_client import CollectorRegistry

from sluice.core.config.kafka import KafkaConfig
from sluice.core.config.server import ServerConfig
from sluice.core.config.spool import SpoolConfig
from sluice.ops.metrics import Metrics
from tests.support.deploy import (
    CHART_DIR,
    KUBERNETES_VERSIONS,
    REPO,
    find,
    kind_name,
    kinds,
    production_values,
    render_chart,
    render_notes,
    rendered_config,
    server_container,
    server_env,
    validation_errors,
    workload,
)
from tests.support.deploy import (
    pod_spec as rendered_pod_spec,
)

CRD_KINDS = ("ServiceMonitor", "PrometheusRule")
LINT_WARNING = 2

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "production": production_values(),
    "statefulset": {"mode": "statefulset", "spool": {"enabled": False}},
    "fixed replicas, no extras": {
        "autoscaling": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "serviceAccount": {"create": False},
        "topologySpread": {"enabled": False},
    },
    "tls without client certificates": {"tls": {"enabled": True, "secretName": "grpc-tls"}},
    "kafka sasl with a chart secret": {
        "kafka": {"sasl": {"enabled": True, "username": "u", "password": "p"}}
    },
}


def pod_spec(values: dict[str, Any]) -> dict[str, Any]:
    return rendered_pod_spec(render_chart(values))


def test_chart_lints_clean_in_strict_mode_with_default_and_production_values() -> None:
    for values in ({}, production_values()):
        report = helm_python.lint(CHART_DIR, values, strict=True, kube_version="v1.37.0")
        problems = [m for m in report["messages"] if m["severity"] >= LINT_WARNING]
        assert report["errors"] == []
        assert problems == []


@pytest.mark.parametrize("case", list(VALUE_SETS))
def test_every_rendered_object_passes_strict_kubernetes_validation(case: str) -> None:
    objects = [o for o in render_chart(VALUE_SETS[case]) if o["kind"] not in CRD_KINDS]
    for version in KUBERNETES_VERSIONS:
        assert validation_errors(objects, version) == [], f"Kubernetes {version}"


def test_defaults_render_the_deployment_and_its_companions() -> None:
    assert sorted(kind_name(o) for o in render_chart()) == [
        "ConfigMap/sluice",
        "Deployment/sluice",
        "HorizontalPodAutoscaler/sluice",
        "NetworkPolicy/sluice",
        "PodDisruptionBudget/sluice",
        "Secret/sluice-client-token",
        "Secret/sluice-tokens",
        "Service/sluice",
        "Service/sluice-metrics",
        "ServiceAccount/sluice",
    ]


def test_production_values_render_every_optional_part() -> None:
    objects = render_chart(production_values())
    assert {"StatefulSet", "ServiceMonitor", "PrometheusRule", "Job"} <= set(kinds(objects))
    assert workload(objects)["kind"] == "StatefulSet"
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert deployments == {"sluice-rollup", "sluice-query"}


def test_probes_ask_the_grpc_health_service_and_never_kafka() -> None:
    container = server_container(pod_spec({}))
    grpc_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
    assert container["startupProbe"]["grpc"] == {"port": grpc_port}
    assert container["livenessProbe"]["grpc"] == {"port": grpc_port}
    assert container["readinessProbe"]["grpc"] == {"port": grpc_port, "service": "sluice.v1.Ingest"}


@pytest.mark.parametrize(
    "values",
    [VALUE_SETS["tls without client certificates"], {"auth": {"mode": "none"}}],
    ids=["tls", "auth none: loopback listener"],
)
def test_probes_use_the_ops_port_where_the_kubelet_cannot_speak_grpc(
    values: dict[str, Any],
) -> None:
    container = server_container(pod_spec(values))
    paths = {
        probe: (container[probe]["httpGet"]["path"], container[probe]["httpGet"]["port"])
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert paths == {
        "startupProbe": ("/healthz", "metrics"),
        "livenessProbe": ("/healthz", "metrics"),
        "readinessProbe": ("/readyz", "metrics"),
    }


@pytest.mark.parametrize(
    ("values", "budget_s"),
    [
        ({}, 5 + 30 + 30 + 20),
        (production_values(), 10 + 45 + 60 + 60),
        (
            {
                "preStopSleepSeconds": 2,
                "config": {
                    "server": {"drain_timeout_s": 90},
                    "kafka": {"delivery_timeout_ms": 120000},
                    "spool": {"drain_timeout_s": 40},
                },
            },
            2 + 90 + 120 + 40,
        ),
    ],
    ids=["defaults", "production", "long drain and delivery"],
)
def test_grace_period_outlasts_prestop_drain_delivery_and_spool_flush(
    values: dict[str, Any], budget_s: int
) -> None:
    spec = pod_spec(values)
    assert spec["terminationGracePeriodSeconds"] > budget_s
    assert server_container(spec)["lifecycle"]["preStop"]["sleep"]["seconds"] > 0


def test_the_grace_period_uses_the_servers_own_defaults_for_unset_keys() -> None:
    unset = {
        "server": {"drain_timeout_s": None},
        "kafka": {"delivery_timeout_ms": None},
        "spool": {"drain_timeout_s": None},
    }
    spec = pod_spec({"preStopSleepSeconds": 0, "config": unset})
    defaults = (
        ServerConfig().drain_timeout_s
        + KafkaConfig().delivery_timeout_ms / 1000
        + SpoolConfig().drain_timeout_s
    )
    assert spec["terminationGracePeriodSeconds"] == math.ceil(defaults) + 10


def test_a_grace_period_shorter_than_the_drain_fails_to_render() -> None:
    with pytest.raises(helm_python.HelmRenderError, match="terminationGracePeriodSeconds=40"):
        render_chart({"terminationGracePeriodSeconds": 40})


@pytest.mark.parametrize(
    ("values", "workers"),
    [
        ({"resources": {"limits": {"cpu": "2"}}}, "2"),
        ({"resources": {"limits": {"cpu": "1500m"}}}, "2"),
        ({"resources": {"limits": {"cpu": "250m"}}}, "1"),
        ({"resources": {"limits": {"cpu": 3.5}}}, "4"),
        ({"workers": 3, "resources": {"limits": {"cpu": "8"}}}, "3"),
        ({"resources": {"limits": {"cpu": "300"}}}, "256"),  # what serve --workers takes
    ],
)
def test_workers_follow_the_cpu_limit(values: dict[str, Any], workers: str) -> None:
    args = server_container(pod_spec(values))["args"]
    assert args[args.index("--workers") + 1] == workers


@pytest.mark.parametrize("case", ["defaults", "production"])
def test_pods_run_non_root_read_only_without_service_links(case: str) -> None:
    spec = pod_spec(VALUE_SETS[case])
    container = server_container(spec)
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    assert container["resources"]["limits"]["cpu"]


@pytest.mark.parametrize(
    ("case", "volume_bytes"), [("defaults", 2 * 2**30), ("production", 50 * 2**30)]
)
def test_the_workers_spools_fit_their_volume(case: str, volume_bytes: int) -> None:
    objects = render_chart(VALUE_SETS[case])
    args = server_container(rendered_pod_spec(objects))["args"]
    workers = int(args[args.index("--workers") + 1])
    spool = rendered_config(objects)["spool"]
    assert spool["enabled"] is True
    assert 0.8 * volume_bytes < workers * spool["max_bytes"] <= volume_bytes


def test_deployment_keeps_the_spool_on_an_empty_dir_and_statefulset_on_a_claim() -> None:
    spool = next(v for v in pod_spec({})["volumes"] if v["name"] == "spool")
    assert "emptyDir" in spool
    statefulset = workload(render_chart(VALUE_SETS["statefulset"]))
    assert [t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]] == ["spool"]
    assert "spool" not in {v["name"] for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    assert statefulset["spec"]["serviceName"] == "sluice-headless"
    assert (
        find(render_chart(VALUE_SETS["statefulset"]), "Service", "sluice-headless")["spec"][
            "clusterIP"
        ]
        == "None"
    )


def test_notes_say_what_each_mode_survives_and_how_clients_balance() -> None:
    deployment_notes = " ".join(render_notes({}).split())
    statefulset_notes = " ".join(render_notes(VALUE_SETS["statefulset"]).split())
    assert "emptyDir" in deployment_notes
    assert "NOT the loss of the pod" in deployment_notes
    assert "PersistentVolumeClaim" in statefulset_notes
    assert "the loss of the pod" in statefulset_notes
    for notes in (deployment_notes, statefulset_notes):
        assert "max_connection_age_s" in notes
        assert "round_robin" in notes
    assert "dns:///sluice-headless.ingest.svc:50051" in statefulset_notes


def test_config_changes_roll_the_pods_and_unchanged_config_does_not() -> None:
    def checksum(values: dict[str, Any]) -> str:
        annotations = workload(render_chart(values))["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["checksum/config"])

    debug = {"config": {"logging": {"level": "DEBUG"}}}
    assert checksum({}) == checksum({})
    assert checksum(debug) != checksum({})


def test_secrets_reach_the_pod_from_secrets_and_never_the_config_map() -> None:
    values = VALUE_SETS["kafka sasl with a chart secret"]
    objects = render_chart(values)
    config_text = find(objects, "ConfigMap", "sluice")["data"]["config.yaml"]
    env = server_env(objects)
    password_ref = env["SLUICE__KAFKA__CLIENT__SASL.PASSWORD"]["valueFrom"]["secretKeyRef"]
    tokens_ref = env["SLUICE__AUTH__TOKENS"]["valueFrom"]["secretKeyRef"]
    assert password_ref == {"name": "sluice-kafka", "key": "password"}
    assert tokens_ref == {"name": "sluice-tokens", "key": "tokens.json"}
    assert "sha256:" not in config_text
    assert "password" not in yaml.safe_load(config_text)["kafka"]["client"].get("sasl.password", "")


def test_existing_secrets_are_referenced_and_not_rendered() -> None:
    objects = render_chart(production_values())
    secrets = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
    env = server_env(objects)
    ref = env["SLUICE__KAFKA__CLIENT__SASL.PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "sluice-kafka-user", "key": "password"}
    assert secrets == {"sluice-tokens"}


@pytest.mark.parametrize(
    ("tls", "sasl", "protocol"),
    [
        (False, False, None),
        (True, False, "SSL"),
        (False, True, "SASL_PLAINTEXT"),
        (True, True, "SASL_SSL"),
    ],
)
def test_kafka_security_protocol_follows_the_tls_and_sasl_switches(
    tls: bool, sasl: bool, protocol: str | None
) -> None:
    values = {
        "kafka": {
            "tls": {"enabled": tls, "caSecret": "kafka-ca"},
            "sasl": {"enabled": sasl, "username": "sluice", "existingSecret": "kafka-user"},
        }
    }
    client = rendered_config(render_chart(values))["kafka"].get("client", {})
    assert client.get("security.protocol") == protocol
    assert ("ssl.ca.location" in client) == tls
    assert (client.get("sasl.mechanism") == "SCRAM-SHA-512") == sasl


def test_hpa_scales_on_cpu_and_on_a_metric_the_server_exports() -> None:
    hpa = find(render_chart(production_values()), "HorizontalPodAutoscaler", "sluice")
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    name = metrics["Pods"]["pods"]["metric"]["name"]
    exported = {metric.name for metric in Metrics(CollectorRegistry()).registry.collect()}
    assert name in exported
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"


def test_network_policy_admits_grpc_and_metrics_and_lets_out_dns_and_kafka() -> None:
    policy = find(render_chart(production_values()), "NetworkPolicy", "sluice")["spec"]
    ingress_ports = [rule["ports"][0]["port"] for rule in policy["ingress"]]
    egress_ports = {port["port"] for rule in policy["egress"] for port in rule["ports"]}
    assert ingress_ports == ["grpc", "metrics"]
    assert policy["ingress"][0]["ports"][1]["port"] == "http"
    assert {53, 9093, 4317} <= egress_ports


def test_topics_job_creates_both_topics_with_the_server_config() -> None:
    objects = render_chart(production_values())
    job = find(objects, "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert container["args"][:3] == ["create-topics", "--config", "/etc/sluice/config/config.yaml"]
    assert "min.insync.replicas=2" in container["args"]
    assert container["env"] == server_container(rendered_pod_spec(objects))["env"]


def test_alert_rules_and_dashboard_are_the_files_in_deploy() -> None:
    objects = render_chart(production_values())
    rule = find(objects, "PrometheusRule")
    alerts = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]
    dashboard = find(objects, "ConfigMap", "sluice-dashboard")
    shipped = json.loads((REPO / "deploy" / "grafana" / "sluice.json").read_text())
    assert json.loads(dashboard["data"]["sluice.json"]) == shipped
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


def alert_names(rule: dict[str, Any]) -> dict[str, list[str]]:
    return {
        group["name"]: [item.get("alert", item.get("record")) for item in group["rules"]]
        for group in rule["spec"]["groups"]
    }


def test_disabled_alerts_are_left_out_and_additional_rules_added() -> None:
    shipped = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    mine = {
        "alert": "SluiceRateLimitedMostly",
        "expr": "sum(rate(sluice_rate_limited_total[5m])) / sum(rate(sluice_batches_total[5m]))"
        " > 0.5",
        "for": "30m",
        "labels": {"severity": "warning"},
    }
    values = {
        "prometheusRule": {
            "enabled": True,
            "disabled": ["SluiceRateLimited", "SluiceAckLatencyHigh"],
            "additionalRules": [mine],
        }
    }

    rule = find(render_chart(values), "PrometheusRule")

    names = alert_names(rule)
    every = [name for group in names.values() for name in group]
    assert "SluiceRateLimited" not in every
    assert "SluiceAckLatencyHigh" not in every
    assert len(every) == sum(len(g["rules"]) for g in shipped["groups"]) - 2 + 1
    assert rule["spec"]["groups"][-1] == {"name": "sluice-additional", "rules": [mine]}


def test_a_disabled_name_that_is_no_alert_fails_to_render_naming_it() -> None:
    values = {"prometheusRule": {"enabled": True, "disabled": ["SluiceRateLimted"]}}
    with pytest.raises(helm_python.HelmRenderError, match="SluiceRateLimted is not one of"):
        render_chart(values)


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"mode": "daemonset"}, "/mode"),
    ({"replicas": 3}, "'replicas' not allowed"),
    ({"workers": -1}, "/workers"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"ports": {"grpc": 70000}}, "/ports/grpc"),
    ({"tls": {"enabled": True}}, "/tls/secretName"),
    ({"kafka": {"client": {"acks": "1"}}}, "/kafka/client"),
    ({"kafka": {"sasl": {"enabled": True}}}, "/kafka/sasl/username"),
    ({"auth": {"mode": "basic"}}, "/auth/mode"),
    ({"auth": {"tokens": [{"tenant": "acme", "sha256": "hunter2"}]}}, "/auth/tokens/0/sha256"),
    ({"resources": {"limits": {"cpu": "two"}}}, "/resources/limits/cpu"),
    ({"spool": {"persistence": {"accessModes": ["ReadOnlyMany"]}}}, "/spool/persistence/access"),
    ({"config": {"server": {"drain_timeout_s": 0}}}, "/config/server/drain_timeout_s"),
    ({"prometheusRule": {"disabled": "SluiceRateLimited"}}, "/prometheusRule/disabled"),
    ({"prometheusRule": {"additionalRules": [{"alert": "X"}]}}, "/prometheusRule/additional"),
]


@pytest.mark.parametrize(("values", "key"), BAD_VALUES, ids=[key for _, key in BAD_VALUES])
def test_bad_values_fail_at_install_naming_the_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=key):
        render_chart(values)


def test_http_ingest_gets_a_container_port_and_a_service_port_when_enabled() -> None:
    def ports(values: dict[str, Any]) -> tuple[set[str], set[str]]:
        objects = render_chart(values)
        service = find(objects, "Service", "sluice")["spec"]["ports"]
        container = server_container(rendered_pod_spec(objects))["ports"]
        return {p["name"] for p in service}, {p["name"] for p in container}

    assert ports({}) == ({"grpc"}, {"grpc", "metrics"})
    assert ports({"httpIngest": {"enabled": True}}) == (
        {"grpc", "http"},
        {"grpc", "metrics", "http"},
    )
