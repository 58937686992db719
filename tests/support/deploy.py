"""The Helm chart and the kustomize manifests as the deploy tests see them: rendered objects.

``render_chart`` renders ``helm/sluice`` offline with helm-python-sdk (Helm's own Go code,
shipped inside the wheel), ``kustomize`` builds a kustomization with ``kubectl kustomize``,
and ``PodFixture`` lays a rendered pod's volumes and environment out under a directory, so
the config the chart renders can be loaded exactly as the container would load it.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import trustme
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "sluice"
PRODUCTION_VALUES = CHART_DIR / "ci" / "production-values.yaml"
KUSTOMIZE_BASE = REPO / "deploy" / "k8s" / "base"
KUSTOMIZE_EXAMPLE = REPO / "deploy" / "k8s" / "overlays" / "example"
RELEASE = "sluice"
NAMESPACE = "ingest"
KUBERNETES_VERSIONS = ("1.30", "1.37")
"""The chart's kubeVersion floor, and the newest Kubernetes kubernetes-validate knows."""
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
KUSTOMIZE_TIMEOUT_S = 60.0
EXTERNAL_KAFKA_PASSWORD = "p@ss: #{not yaml}"
EXTERNAL_POSTGRES_DSN = "postgresql://rollup:s3cr%40t@postgres.data:5432/plant?sslmode=require"
COMPONENT_LABEL = "app.kubernetes.io/component"
COMPONENTS = ("rollup", "query")
"""The optional components downstream of Kafka, as their ``app.kubernetes.io/component``."""
SERVICE_LINKS = {
    "SLUICE_PORT": "tcp://10.96.0.10:50051",
    "SLUICE_PORT_50051_TCP": "tcp://10.96.0.10:50051",
    "SLUICE_SERVICE_HOST": "10.96.0.10",
    "SLUICE_SERVICE_PORT": "50051",
    "SLUICE_METRICS_PORT": "tcp://10.96.0.11:9464",
}
"""What Kubernetes injects for Services named sluice and sluice-metrics with service links on."""

Manifest = dict[str, Any]


def production_values() -> dict[str, Any]:
    """The values of ``helm/sluice/ci/production-values.yaml``."""
    values: dict[str, Any] = yaml.safe_load(PRODUCTION_VALUES.read_text(encoding="utf-8"))
    return values


def render_templates(values: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Each template's rendered text, keyed by template path (NOTES.txt included)."""
    with helm_python.Chart.load(CHART_DIR) as chart:
        return chart.render(dict(values or {}), name=RELEASE, namespace=NAMESPACE, is_install=True)


def render_chart(values: Mapping[str, Any] | None = None) -> list[Manifest]:
    """Every object the chart renders with ``values``, as ``helm template`` would print it."""
    objects: list[Manifest] = []
    for path, text in sorted(render_templates(values).items()):
        if not path.endswith("NOTES.txt"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def render_notes(values: Mapping[str, Any] | None = None) -> str:
    """The chart's rendered NOTES.txt."""
    rendered = render_templates(values)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def kustomize(directory: Path) -> list[Manifest]:
    """The objects ``kubectl kustomize directory`` builds."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=KUSTOMIZE_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validation_errors(objects: list[Manifest], version: str) -> list[str]:
    """What ``kubernetes-validate --strict`` says against each object, one line per object."""
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(part) for part in exc.path)
            errors.append(f"{kind_name(obj)} at {path or '(top)'}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{kind_name(obj)}: {exc.message}")
    return errors


def kind_name(obj: Manifest) -> str:
    """``Kind/name`` of an object."""
    return f"{obj['kind']}/{obj['metadata']['name']}"


def find(objects: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The one object of ``kind`` (and ``name``); fails listing what there is."""
    found = [
        obj
        for obj in objects
        if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"want one {kind} {name or ''}, have {[kind_name(o) for o in objects]}"
    return found[0]


def kinds(objects: list[Manifest]) -> list[str]:
    """The kinds of ``objects``, in order."""
    return [obj["kind"] for obj in objects]


def workload(objects: list[Manifest]) -> Manifest:
    """The Deployment or StatefulSet running the server (the gateway: no component label)."""
    found = [
        obj
        for obj in objects
        if obj["kind"] in WORKLOAD_KINDS and COMPONENT_LABEL not in obj["metadata"]["labels"]
    ]
    assert len(found) == 1, f"want one workload, have {[kind_name(o) for o in found]}"
    return found[0]


def component_workload(objects: list[Manifest], component: str) -> Manifest:
    """The Deployment of a downstream component (``rollup`` or ``query``)."""
    found = [
        obj
        for obj in objects
        if obj["kind"] == "Deployment"
        and obj["metadata"]["labels"].get(COMPONENT_LABEL) == component
    ]
    assert len(found) == 1, f"want one {component} Deployment, have {[kind_name(o) for o in found]}"
    return found[0]


def component_config(objects: list[Manifest], component: str) -> Manifest:
    """The config file of a component, parsed from the ConfigMap its pods mount."""
    spec = component_workload(objects, component)["spec"]["template"]["spec"]
    name = next(v["configMap"]["name"] for v in spec["volumes"] if v["name"] == "config")
    config: Manifest = yaml.safe_load(find(objects, "ConfigMap", name)["data"]["config.yaml"])
    return config


def pod_spec(objects: list[Manifest]) -> Manifest:
    """The pod spec of the workload running the server."""
    spec: Manifest = workload(objects)["spec"]["template"]["spec"]
    return spec


def server_env(objects: list[Manifest]) -> dict[str, Manifest]:
    """The server container's env entries, by name."""
    return {entry["name"]: entry for entry in server_container(pod_spec(objects))["env"]}


def rendered_config(objects: list[Manifest]) -> Manifest:
    """The Sluice config file in the chart's ConfigMap, parsed."""
    config: Manifest = yaml.safe_load(find(objects, "ConfigMap", RELEASE)["data"]["config.yaml"])
    return config


def server_container(pod_spec: Manifest) -> Manifest:
    """The container named ``sluice`` in a pod spec."""
    return next(c for c in pod_spec["containers"] if c["name"] == "sluice")


def secret_data(secret: Manifest) -> dict[str, bytes]:
    """A Secret's data and stringData, decoded."""
    data = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    data.update({k: v.encode() for k, v in (secret.get("stringData") or {}).items()})
    return data


class PodFixture:
    """A rendered pod's files and environment, laid out under ``root`` as its container sees them.

    Volumes from ConfigMaps and Secrets the objects include are written out; those made
    outside the chart (``existingSecret``, cert-manager's, a registry ConfigMap) come from
    ``external``, by name. Every
    mount path ``/a/b`` becomes ``root/a/b``, and ``path()`` maps paths the same way.
    """

    FIELD_VALUES: Mapping[str, str] = {
        "metadata.name": f"{RELEASE}-0",
        "metadata.namespace": NAMESPACE,
    }

    def __init__(
        self,
        objects: list[Manifest],
        pod_spec: Manifest,
        container: Manifest,
        root: Path,
        external: Mapping[str, Mapping[str, bytes]] | None = None,
    ) -> None:
        self.objects = objects
        self.pod_spec = pod_spec
        self.container = container
        self.root = root
        self.external = external or {}
        self.mount_paths = [mount["mountPath"] for mount in container.get("volumeMounts", [])]

    def path(self, in_container: str) -> str:
        """Where a container path lives under ``root``."""
        return str(self.root / in_container.lstrip("/"))

    def secret(self, name: str) -> dict[str, bytes]:
        """The data of Secret ``name``, rendered or external."""
        rendered = [o for o in self.objects if o["kind"] == "Secret"]
        named = [o for o in rendered if o["metadata"]["name"] == name]
        if named:
            return secret_data(named[0])
        assert name in self.external, f"Secret {name} is neither rendered nor given"
        return dict(self.external[name])

    def config_map(self, name: str) -> dict[str, bytes]:
        """The data of ConfigMap ``name``, rendered or external."""
        rendered = [o for o in self.objects if o["kind"] == "ConfigMap"]
        named = [o for o in rendered if o["metadata"]["name"] == name]
        if named:
            return {key: value.encode() for key, value in (named[0].get("data") or {}).items()}
        assert name in self.external, f"ConfigMap {name} is neither rendered nor given"
        return dict(self.external[name])

    def lay_out(self) -> None:
        """Write every mounted volume's files under ``root``, with container paths rewritten."""
        volumes = {volume["name"]: volume for volume in self.pod_spec.get("volumes", [])}
        for mount in self.container.get("volumeMounts", []):
            target = Path(self.path(mount["mountPath"]))
            target.mkdir(parents=True, exist_ok=True)
            volume = volumes.get(mount["name"])
            if volume is None:
                continue  # a StatefulSet's volumeClaimTemplate: an empty directory
            for name, content in self._volume_files(volume):
                (target / name).write_bytes(self._rewrite(content))

    def _volume_files(self, volume: Manifest) -> Iterator[tuple[str, bytes]]:
        if "configMap" in volume:
            source, data = volume["configMap"], self.config_map(volume["configMap"]["name"])
        elif "secret" in volume:
            source, data = volume["secret"], self.secret(volume["secret"]["secretName"])
        else:
            return
        items = source.get("items") or [{"key": key, "path": key} for key in data]
        for item in items:
            yield item["path"], data[item["key"]]

    def _rewrite(self, content: bytes) -> bytes:
        longest_first = sorted(self.mount_paths, key=len, reverse=True)
        pattern = "|".join(re.escape(f"{mount_path}/") for mount_path in longest_first)
        text = re.sub(pattern, lambda match: self.path(match.group(0)) + "/", content.decode())
        return text.encode()

    def environment(self, service_links: Mapping[str, str] | None = None) -> dict[str, str]:
        """The container's environment: its env list resolved, after ``service_links``."""
        env = dict(service_links or {})
        for entry in self.container.get("env", []):
            env[entry["name"]] = self._env_value(entry, env)
        return env

    def _env_value(self, entry: Manifest, earlier: Mapping[str, str]) -> str:
        if "value" in entry:
            value = str(entry["value"])
            for name, known in earlier.items():
                value = value.replace(f"$({name})", known)
            return value
        source = entry["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            return self.secret(ref["name"])[ref["key"]].decode()
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            return self.config_map(ref["name"])[ref["key"]].decode()
        return self.FIELD_VALUES[source["fieldRef"]["fieldPath"]]

    def config_path(self) -> Path:
        """The host path of the ``--config`` file in the container's args."""
        args = self.container.get("args", [])
        return Path(self.path(args[args.index("--config") + 1]))


def external_objects() -> dict[str, dict[str, bytes]]:
    """The Secrets and ConfigMaps production-values.yaml names but leaves to the cluster."""
    gateway_ca, server_ca, kafka_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = server_ca.issue_cert(f"{RELEASE}.{NAMESPACE}.svc", "localhost")
    query = server_ca.issue_cert(f"{RELEASE}-query.{NAMESPACE}.svc", "localhost")
    return {
        "sluice-grpc-tls": {
            "tls.crt": b"".join(pem.bytes() for pem in server.cert_chain_pems),
            "tls.key": server.private_key_pem.bytes(),
        },
        "sluice-query-tls": {
            "tls.crt": b"".join(pem.bytes() for pem in query.cert_chain_pems),
            "tls.key": query.private_key_pem.bytes(),
        },
        "sluice-rollup-postgres": {"dsn": EXTERNAL_POSTGRES_DSN.encode()},
        "sluice-gateway-ca": {"ca.crt": gateway_ca.cert_pem.bytes()},
        "kafka-cluster-ca": {"ca.crt": kafka_ca.cert_pem.bytes()},
        "sluice-kafka-user": {"password": EXTERNAL_KAFKA_PASSWORD.encode()},
        "plant-device-registry": {"devices.yaml": b"devices:\n  pump-7: {site: plant-north}\n"},
    }


def lay_out_pod(values: Mapping[str, Any], root: Path) -> tuple[PodFixture, list[Manifest]]:
    """Render the chart and lay its server pod out under ``root``."""
    objects = render_chart(values)
    spec = pod_spec(objects)
    fixture = PodFixture(objects, spec, server_container(spec), root, external_objects())
    fixture.lay_out()
    return fixture, objects


def lay_out_component_pod(
    values: Mapping[str, Any], component: str, root: Path
) -> tuple[PodFixture, list[Manifest]]:
    """Render the chart and lay the pod of ``component`` (rollup or query) out under ``root``."""
    objects = render_chart(values)
    spec = component_workload(objects, component)["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == component)
    fixture = PodFixture(objects, spec, container, root, external_objects())
    fixture.lay_out()
    return fixture, objects
