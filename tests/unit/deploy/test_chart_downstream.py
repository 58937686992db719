"""The chart's optional components downstream of Kafka: `sluice rollup` and `sluice query`.

Both are off by default and then render nothing. Enabled, each is a Deployment with its own
config file, probes on its ops listener, the gateway's pod security, PostgreSQL as the
store with the DSN from a Secret only, and Services, a PodDisruptionBudget, a NetworkPolicy
and a ServiceMonitor of its own, none of whose selectors reach the gateway's pods.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import helm_python
import pytest

from sluice.core.config.settings import Settings, load_settings
from tests.support.deploy import (
    CHART_DIR,
    COMPONENTS,
    EXTERNAL_KAFKA_PASSWORD,
    EXTERNAL_POSTGRES_DSN,
    KUBERNETES_VERSIONS,
    SERVICE_LINKS,
    Manifest,
    component_config,
    component_workload,
    find,
    kind_name,
    lay_out_component_pod,
    pod_spec,
    production_values,
    render_chart,
    render_notes,
    secret_data,
    server_container,
    validation_errors,
)

DSN = "postgresql://rollup:hunter2@postgres.data:5432/plant"
ENABLED: dict[str, Any] = {
    "rollup": {"enabled": True, "store": {"postgresDsn": DSN}},
    "query": {"enabled": True},
}
"""Both components on, the DSN rendered into the chart's Secret, everything else default."""
LINT_WARNING = 2
CONFIG_PATH = "/etc/sluice/config/config.yaml"
ENV_DSN = "SLUICE__ROLLUP__STORE__POSTGRES_DSN"


def with_values(base: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """``base`` with top-level sections deep-merged from ``overrides``."""
    merged = copy.deepcopy(base)

    def merge(into: dict[str, Any], update: dict[str, Any]) -> None:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = copy.deepcopy(value)

    merge(merged, overrides)
    return merged


def container(objects: list[Manifest], component: str) -> Manifest:
    spec = component_workload(objects, component)["spec"]["template"]["spec"]
    found: Manifest = next(c for c in spec["containers"] if c["name"] == component)
    return found


def ports(objects: list[Manifest], component: str) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container(objects, component)["ports"]}


def env(objects: list[Manifest], component: str) -> dict[str, Manifest]:
    return {entry["name"]: entry for entry in container(objects, component)["env"]}


def comparable(objects: list[Manifest]) -> dict[str, Manifest]:
    """Objects by Kind/name, Secrets reduced to their names (the generated token is random)."""
    return {
        kind_name(o): ({} if o["kind"] == "Secret" else o)
        for o in objects
        if o["kind"] != "Secret" or "client-token" not in o["metadata"]["name"]
    }


def test_disabled_by_default_nothing_downstream_renders() -> None:
    names = [kind_name(o) for o in render_chart()]
    assert [n for n in names if "rollup" in n or "query" in n] == []


def test_disabled_components_leave_the_render_as_it_is_whatever_else_they_set() -> None:
    configured_but_off = {
        "rollup": {
            "enabled": False,
            "replicaCount": 7,
            "store": {"postgresDsn": DSN},
            "config": {"rollup": {"group_id": "other"}},
        },
        "query": {"enabled": False, "tls": {"enabled": True, "secretName": "query-tls"}},
        "networkPolicy": {"queryFrom": [{"podSelector": {}}], "egress": {"postgresPorts": [6432]}},
        "serviceMonitor": {"enabled": True},
    }
    assert comparable(render_chart(configured_but_off)) == comparable(
        render_chart({"serviceMonitor": {"enabled": True}})
    )


def test_enabling_them_adds_their_own_objects_and_changes_none_of_the_gateways() -> None:
    default = comparable(render_chart())
    enabled = comparable(render_chart(ENABLED))
    assert sorted(set(enabled) - set(default)) == [
        "ConfigMap/sluice-query",
        "ConfigMap/sluice-rollup",
        "Deployment/sluice-query",
        "Deployment/sluice-rollup",
        "NetworkPolicy/sluice-query",
        "NetworkPolicy/sluice-rollup",
        "PodDisruptionBudget/sluice-query",
        "PodDisruptionBudget/sluice-rollup",
        "Secret/sluice-rollup-store",
        "Service/sluice-query",
        "Service/sluice-query-metrics",
        "Service/sluice-rollup-metrics",
    ]
    assert {name: enabled[name] for name in default} == default


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_runs_its_command_on_its_own_config_file_with_postgres(component: str) -> None:
    objects = render_chart(ENABLED)
    spec = component_workload(objects, component)["spec"]["template"]["spec"]
    config_volume = next(v for v in spec["volumes"] if v["name"] == "config")
    assert container(objects, component)["args"] == [component, "--config", CONFIG_PATH]
    assert config_volume["configMap"]["name"] == f"sluice-{component}"
    assert component_config(objects, component)["rollup"]["store"]["backend"] == "postgres"


@pytest.mark.parametrize(
    "values",
    [
        ENABLED,
        with_values(
            ENABLED,
            rollup={"ports": {"metrics": 19465}},
            query={"ports": {"api": 18080, "metrics": 19466}},
        ),
    ],
    ids=["default ports", "moved ports"],
)
def test_listeners_bind_the_pod_address_on_the_ports_the_probes_and_services_use(
    values: dict[str, Any],
) -> None:
    objects = render_chart(values)
    rollup, query = ports(objects, "rollup"), ports(objects, "query")
    rollup_config = component_config(objects, "rollup")["rollup"]
    query_config = component_config(objects, "query")["query"]
    assert rollup_config["ops_listen"] == f"0.0.0.0:{rollup['metrics']}"
    assert query_config["listen"] == f"0.0.0.0:{query['api']}"
    assert query_config["ops_listen"] == f"0.0.0.0:{query['metrics']}"
    assert rollup["metrics"] == values["rollup"].get("ports", {}).get("metrics", 9465)
    assert query["api"] == values["query"].get("ports", {}).get("api", 8080)
    services = {
        "sluice-rollup-metrics": ("rollup", "metrics"),
        "sluice-query-metrics": ("query", "metrics"),
        "sluice-query": ("query", "api"),
    }
    for name, (component, port_name) in services.items():
        (port,) = find(objects, "Service", name)["spec"]["ports"]
        assert (port["targetPort"], port["port"]) == (
            port_name,
            ports(objects, component)[port_name],
        )


@pytest.mark.parametrize("component", COMPONENTS)
def test_probes_ask_the_ops_listener_for_health_and_readiness(component: str) -> None:
    probes = container(render_chart(ENABLED), component)
    asked = {
        name: (probes[name]["httpGet"]["path"], probes[name]["httpGet"]["port"])
        for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert asked == {
        "startupProbe": ("/healthz", "metrics"),
        "livenessProbe": ("/healthz", "metrics"),
        "readinessProbe": ("/readyz", "metrics"),
    }


@pytest.mark.parametrize(
    ("values", "secret"),
    [(ENABLED, {"name": "sluice-rollup-store", "key": "dsn"}), (production_values(), None)],
    ids=["chart secret", "existing secret"],
)
def test_the_dsn_reaches_the_pods_from_a_secret_and_never_a_config_map(
    values: dict[str, Any], secret: dict[str, str] | None
) -> None:
    objects = render_chart(values)
    store = values["rollup"]["store"]
    wanted = secret or {"name": store["existingSecret"], "key": store["existingSecretKey"]}
    for component in COMPONENTS:
        assert env(objects, component)[ENV_DSN]["valueFrom"]["secretKeyRef"] == wanted
        assert "postgres_dsn" not in component_config(objects, component)["rollup"]["store"]
    rendered_secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    if secret is None:
        assert wanted["name"] not in rendered_secrets
    else:
        assert secret_data(rendered_secrets[wanted["name"]])[wanted["key"]] == DSN.encode()
        not_secrets = [o for o in objects if o["kind"] != "Secret"]
        assert DSN not in json.dumps(not_secrets)
        assert "hunter2" not in json.dumps(not_secrets)


def test_each_pod_gets_only_the_secrets_it_needs() -> None:
    objects = render_chart(production_values())
    rollup, query = env(objects, "rollup"), env(objects, "query")
    assert "SLUICE__KAFKA__CLIENT__SASL.PASSWORD" in rollup
    assert "SLUICE__AUTH__TOKENS" not in rollup
    assert "SLUICE__AUTH__TOKENS" in query
    assert "SLUICE__KAFKA__CLIENT__SASL.PASSWORD" not in query
    gateway = {e["name"]: e for e in server_container(pod_spec(objects))["env"]}
    assert query["SLUICE__AUTH__TOKENS"] == gateway["SLUICE__AUTH__TOKENS"]
    password = "SLUICE__KAFKA__CLIENT__SASL.PASSWORD"
    assert rollup[password] == gateway[password]


def load(values: dict[str, Any], component: str, root: Path) -> Settings:
    pod, _ = lay_out_component_pod(values, component, root)
    return load_settings(pod.config_path(), pod.environment(SERVICE_LINKS))


def test_the_rollup_pod_loads_its_config_with_the_dsn_and_kafka_credentials(
    tmp_path: Path,
) -> None:
    settings = load(production_values(), "rollup", tmp_path)
    store = settings.rollup.store
    assert (store.backend, store.postgres_dsn) == ("postgres", EXTERNAL_POSTGRES_DSN)
    assert (store.pool_min_size, store.pool_max_size) == (1, 2)
    assert settings.rollup.ops_listen == "0.0.0.0:9465"
    assert settings.rollup.group_id == "plant-rollup"
    assert settings.kafka.topic == "plant.readings.v1"
    assert settings.kafka.bootstrap_servers.startswith("kafka-0.kafka.data:9093")
    client = settings.kafka.client
    assert client["security.protocol"] == "SASL_SSL"
    assert client["sasl.password"] == EXTERNAL_KAFKA_PASSWORD
    assert Path(str(client["ssl.ca.location"])).is_file()


def test_the_query_pod_loads_its_config_with_tls_tokens_and_the_dsn(tmp_path: Path) -> None:
    settings = load(production_values(), "query", tmp_path)
    assert settings.rollup.store.postgres_dsn == EXTERNAL_POSTGRES_DSN
    assert settings.rollup.store.pool_max_size == 16
    assert settings.query.listen == "0.0.0.0:8080"
    assert settings.query.ops_listen == "0.0.0.0:9466"
    assert settings.query.tls is not None
    assert settings.query.tls.client_ca_file is None
    assert ("acme", ("query",)) in [(t.tenant, t.scopes) for t in settings.auth.tokens]


def test_query_tls_with_client_certificates_mounts_what_the_config_names(tmp_path: Path) -> None:
    tls = {"enabled": True, "secretName": "sluice-query-tls", "clientCASecret": "sluice-gateway-ca"}
    values = with_values(ENABLED, query={"tls": tls})
    settings = load(values, "query", tmp_path)
    assert settings.query.tls is not None
    assert settings.query.tls.client_ca_file is not None
    assert settings.query.tls.client_ca_file.is_file()
    assert settings.rollup.store.postgres_dsn == DSN


def test_query_under_auth_none_listens_on_loopback_as_the_server_requires(
    tmp_path: Path,
) -> None:
    values = with_values(ENABLED, auth={"mode": "none"})
    settings = load(values, "query", tmp_path)
    assert settings.query.listen == "127.0.0.1:8080"
    assert settings.query.ops_listen == "0.0.0.0:9466"
    assert "SLUICE__AUTH__TOKENS" not in env(render_chart(values), "query")
    assert "the query API listens on 127.0.0.1 only" in " ".join(render_notes(values).split())


def test_user_config_cannot_move_the_listeners_the_pods_expose() -> None:
    values = with_values(
        ENABLED,
        rollup={"config": {"rollup": {"ops_listen": "127.0.0.1:1"}, "kafka": {"topic": "x"}}},
        query={"config": {"query": {"listen": "127.0.0.1:2", "ops_listen": "127.0.0.1:3"}}},
    )
    objects = render_chart(values)
    rollup, query = component_config(objects, "rollup"), component_config(objects, "query")
    assert rollup["rollup"]["ops_listen"] == "0.0.0.0:9465"
    assert rollup["kafka"]["topic"] == "sluice.readings.v1"
    assert (query["query"]["listen"], query["query"]["ops_listen"]) == (
        "0.0.0.0:8080",
        "0.0.0.0:9466",
    )


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_pods_are_locked_down_like_the_gateways(component: str) -> None:
    objects = render_chart(production_values())
    gateway_spec = pod_spec(objects)
    gateway = server_container(gateway_spec)
    spec = component_workload(objects, component)["spec"]["template"]["spec"]
    mine = container(objects, component)
    assert spec["enableServiceLinks"] is False
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == gateway_spec["securityContext"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert mine["securityContext"] == gateway["securityContext"]
    assert mine["securityContext"]["readOnlyRootFilesystem"] is True
    assert mine["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert (mine["image"], spec["imagePullSecrets"]) == (
        gateway["image"],
        gateway_spec["imagePullSecrets"],
    )
    assert mine["resources"]["limits"]["cpu"]


def selectors(objects: list[Manifest]) -> list[tuple[str, dict[str, str]]]:
    """Every pod selector the chart renders, named by the object that holds it."""
    found = []
    for obj in objects:
        spec = obj.get("spec", {})
        if obj["kind"] == "Service":
            found.append((kind_name(obj), spec["selector"]))
        elif obj["kind"] in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
            found.append((kind_name(obj), spec["selector"]["matchLabels"]))
        elif obj["kind"] == "NetworkPolicy":
            found.append((kind_name(obj), spec["podSelector"]["matchLabels"]))
        for spread in spec.get("template", {}).get("spec", {}).get("topologySpreadConstraints", []):
            found.append((f"{kind_name(obj)} spread", spread["labelSelector"]["matchLabels"]))
    return found


def test_every_selector_selects_the_pods_of_its_own_workload_only() -> None:
    objects = render_chart(production_values())
    pods = {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
    }
    assert set(pods) == {"sluice", "sluice-rollup", "sluice-query"}
    checked = selectors(objects)
    for holder, selector in checked:
        name = holder.split("/")[1].split()[0]
        owner = max((workload for workload in pods if name.startswith(workload)), key=len)
        selected = [w for w, labels in pods.items() if selector.items() <= labels.items()]
        assert selected == [owner], f"{holder} selects {selected}"
    assert {holder for holder, _ in checked} >= {
        "Deployment/sluice-rollup",
        "Deployment/sluice-rollup spread",
        "Service/sluice-rollup-metrics",
        "PodDisruptionBudget/sluice-rollup",
        "NetworkPolicy/sluice-rollup",
        "Deployment/sluice-query",
        "Deployment/sluice-query spread",
        "Service/sluice-query",
        "Service/sluice-query-metrics",
        "PodDisruptionBudget/sluice-query",
        "NetworkPolicy/sluice-query",
    }


def rules(policy: Manifest, direction: str) -> list[tuple[list[Any], list[Any]]]:
    """Each rule's ports and peers (``from`` or ``to``; [] for any)."""
    peers = "from" if direction == "ingress" else "to"
    return [
        ([p["port"] for p in rule["ports"]], rule.get(peers, []))
        for rule in policy["spec"][direction]
    ]


def test_network_policies_admit_each_components_ports_and_let_out_what_it_needs() -> None:
    values = production_values()
    objects = render_chart(values)
    network = values["networkPolicy"]
    egress = network["egress"]
    dns: tuple[list[Any], list[Any]] = ([53, 53], [])
    rollup = find(objects, "NetworkPolicy", "sluice-rollup")
    query = find(objects, "NetworkPolicy", "sluice-query")
    assert rules(rollup, "ingress") == [(["metrics"], network["metricsFrom"])]
    assert rules(rollup, "egress") == [
        dns,
        (egress["kafkaPorts"], egress["kafkaTo"]),
        (egress["postgresPorts"], egress["postgresTo"]),
    ]
    assert rules(query, "ingress") == [
        (["api"], network["queryFrom"]),
        (["metrics"], network["metricsFrom"]),
    ]
    assert rules(query, "egress") == [dns, (egress["postgresPorts"], egress["postgresTo"])]
    for policy, component in ((rollup, "rollup"), (query, "query")):
        admitted = {port for ports_, _ in rules(policy, "ingress") for port in ports_}
        assert admitted == set(ports(objects, component))


def test_without_egress_restrictions_the_policies_only_guard_ingress() -> None:
    values = with_values(ENABLED, networkPolicy={"egress": {"enabled": False}})
    objects = render_chart(values)
    for name in ("sluice-rollup", "sluice-query"):
        spec = find(objects, "NetworkPolicy", name)["spec"]
        assert spec["policyTypes"] == ["Ingress"]
        assert "egress" not in spec


def pod_annotations(values: dict[str, Any], component: str) -> dict[str, str]:
    template = component_workload(render_chart(values), component)["spec"]["template"]
    found: dict[str, str] = template["metadata"]["annotations"]
    return found


@pytest.mark.parametrize(
    ("component", "own_change"),
    [
        ("rollup", {"rollup": {"config": {"rollup": {"minute_rollups": True}}}}),
        ("query", {"query": {"config": {"query": {"page_size": 50}}}}),
    ],
)
def test_their_own_config_and_secret_changes_roll_their_pods_and_the_gateways_do_not(
    component: str, own_change: dict[str, Any]
) -> None:
    before = pod_annotations(ENABLED, component)
    assert pod_annotations(ENABLED, component) == before
    config_change = pod_annotations(with_values(ENABLED, **own_change), component)
    assert config_change["checksum/config"] != before["checksum/config"]
    new_dsn = with_values(ENABLED, rollup={"store": {"postgresDsn": DSN + "?sslmode=require"}})
    assert pod_annotations(new_dsn, component)["checksum/secrets"] != before["checksum/secrets"]
    gateway_change = with_values(ENABLED, config={"logging": {"level": "DEBUG"}})
    assert pod_annotations(gateway_change, component) == before


def test_replicas_pdb_and_pod_metadata_follow_their_values() -> None:
    values = with_values(
        ENABLED,
        rollup={
            "replicaCount": 6,
            "podAnnotations": {"team": "data"},
            "podDisruptionBudget": {"maxUnavailable": 2},
        },
        query={"replicaCount": 3, "podDisruptionBudget": {"enabled": False}},
    )
    objects = render_chart(values)
    assert component_workload(objects, "rollup")["spec"]["replicas"] == 6
    assert component_workload(objects, "query")["spec"]["replicas"] == 3
    assert find(objects, "PodDisruptionBudget", "sluice-rollup")["spec"]["maxUnavailable"] == 2
    assert "PodDisruptionBudget/sluice-query" not in {kind_name(o) for o in objects}
    assert pod_annotations(values, "rollup")["team"] == "data"


def test_query_autoscaling_puts_an_hpa_on_cpu_in_place_of_its_replica_count() -> None:
    scaled = render_chart(
        with_values(ENABLED, query={"autoscaling": {"enabled": True, "maxReplicas": 9}})
    )
    workload = component_workload(scaled, "query")
    assert "replicas" not in workload["spec"]
    hpa = find(scaled, "HorizontalPodAutoscaler", "sluice-query")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": workload["metadata"]["name"],
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 9)
    [metric] = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["averageUtilization"] == 70

    fixed = render_chart(ENABLED)
    assert "HorizontalPodAutoscaler/sluice-query" not in {kind_name(o) for o in fixed}
    assert component_workload(fixed, "query")["spec"]["replicas"] == 2


def test_the_query_pod_leaves_its_service_before_it_stops() -> None:
    query = container(render_chart(ENABLED), "query")
    spec = component_workload(render_chart(ENABLED), "query")["spec"]["template"]["spec"]
    sleep = query["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert 0 < sleep < spec["terminationGracePeriodSeconds"]


def test_notes_say_how_to_reach_the_query_api_and_how_far_rollup_scales() -> None:
    values = with_values(
        ENABLED,
        rollup={"replicaCount": 5},
        kafka={"topics": {"create": True, "partitions": 3}},
    )
    notes = " ".join(render_notes(values).split())
    assert "http://sluice-query.ingest.svc:8080/v1/" in notes
    assert "query scope" in notes
    assert "rollup.replicaCount (5) exceeds kafka.topics.partitions (3)" in notes
    assert "rollup" not in render_notes({})


STRICT_VALUE_SETS: dict[str, dict[str, Any]] = {
    "enabled, chart secret": ENABLED,
    "kafka tls and sasl, query mtls": with_values(
        ENABLED,
        kafka={
            "tls": {"enabled": True, "caSecret": "kafka-ca", "clientCertSecret": "kafka-client"},
            "sasl": {"enabled": True, "username": "u", "existingSecret": "kafka-user"},
        },
        query={"tls": {"enabled": True, "secretName": "q-tls", "clientCASecret": "q-ca"}},
    ),
    "no extras": with_values(
        ENABLED,
        networkPolicy={"enabled": False},
        topologySpread={"enabled": False},
        serviceAccount={"create": False},
        rollup={"podDisruptionBudget": {"enabled": False}},
        query={"preStopSleepSeconds": 0},
    ),
    "auth none": with_values(ENABLED, auth={"mode": "none"}),
}


@pytest.mark.parametrize("case", list(STRICT_VALUE_SETS))
def test_every_object_passes_strict_kubernetes_validation(case: str) -> None:
    objects = render_chart(STRICT_VALUE_SETS[case])
    assert {"Deployment/sluice-rollup", "Deployment/sluice-query"} <= {
        kind_name(o) for o in objects
    }
    for version in KUBERNETES_VERSIONS:
        assert validation_errors(objects, version) == [], f"Kubernetes {version}"


def test_kafka_tls_files_are_mounted_in_the_rollup_pod_where_its_config_names_them() -> None:
    objects = render_chart(STRICT_VALUE_SETS["kafka tls and sasl, query mtls"])
    client = component_config(objects, "rollup")["kafka"]["client"]
    mounts = [m["mountPath"] for m in container(objects, "rollup")["volumeMounts"]]
    for key in ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location"):
        assert str(Path(client[key]).parent) in mounts, key
    query_mounts = [m["mountPath"] for m in container(objects, "query")["volumeMounts"]]
    tls = component_config(objects, "query")["query"]["tls"]
    assert {str(Path(tls[k]).parent) for k in tls} <= set(query_mounts)


def test_the_chart_lints_clean_with_both_enabled() -> None:
    report = helm_python.lint(CHART_DIR, ENABLED, strict=True, kube_version="v1.37.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= LINT_WARNING] == []


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"rollup": {"replicas": 3}}, "'replicas' not allowed"),
    ({"rollup": {"store": {"postgresDSN": DSN}}}, "'postgresDSN' not allowed"),
    ({"rollup": {"config": {"rollup": {"store": {"backend": "sqlite"}}}}}, "/store/backend"),
    (
        {"rollup": {"config": {"rollup": {"store": {"postgres_dsn": DSN}}}}},
        "/rollup/config/rollup/store/postgres_dsn",
    ),
    (
        {"query": {"config": {"rollup": {"store": {"postgres_dsn": DSN}}}}},
        "/query/config/rollup/store/postgres_dsn",
    ),
    ({"query": {"ports": {"api": 70000}}}, "/query/ports/api"),
    ({"query": {"replicaCount": 0}}, "/query/replicaCount"),
    (
        {"query": {"autoscaling": {"targetCPUUtilizationPercentage": 0}}},
        "/query/autoscaling/targetCPUUtilizationPercentage",
    ),
    ({"query": {"tls": {"enabled": True}}}, "/query/tls/secretName"),
    ({"query": {"service": {"type": "Ingress"}}}, "/query/service/type"),
    ({"networkPolicy": {"egress": {"postgresPorts": ["5432"]}}}, "/networkPolicy/egress/postgres"),
]


@pytest.mark.parametrize(("values", "key"), BAD_VALUES, ids=[key for _, key in BAD_VALUES])
def test_bad_values_fail_at_install_naming_the_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=key):
        render_chart(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rollup": {"enabled": True}}, "rollup.store.postgresDsn or rollup.store.existingSecret"),
        ({"query": {"enabled": True}}, "rollup.store.postgresDsn or rollup.store.existingSecret"),
        (
            with_values(ENABLED, query={"preStopSleepSeconds": 30}),
            "query.terminationGracePeriodSeconds=30 must exceed query.preStopSleepSeconds=30",
        ),
    ],
    ids=["rollup without a dsn", "query without a dsn", "grace period within preStop"],
)
def test_incomplete_values_fail_to_render_saying_what_is_missing(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=message):
        render_chart(values)
