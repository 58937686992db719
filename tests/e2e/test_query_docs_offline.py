"""/docs and /redoc of an installed ``sluice query`` render in a real browser without the internet.

Sluice is installed as a user would install it, from its wheels (not editable, so the pages
work only if the wheel carries the vendored Swagger UI and ReDoc), into a fresh virtualenv
holding the locked dependencies. Headless Chromium then loads the pages with every host but
127.0.0.1 unresolvable, and the rendered DOM must list the API's ``/v1`` operations.

The control case serves FastAPI's default Swagger UI page (scripts from a CDN) for the same
document: under the same cut it lists nothing, so the cut is real and the check can fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import venv
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.openapi.docs import get_swagger_ui_html

from sluice.core.netutil import free_port
from tests.support.browser import offline_dom
from tests.support.deploy import REPO
from tests.support.images import record_step
from tests.support.services import SluiceCommand, http_get

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

INSTALL_TIMEOUT_S = 480.0
SOURCES = ["pyproject.toml", "setup.py", "README.md", "clients", "server"]
"""What the two wheels are built from."""


def run(argv: list[str], cwd: Path = REPO) -> str:
    """Run a build or install step; fail with its output if it fails."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def clean_copy(destination: Path) -> Path:
    """The sources of the two distributions as a fresh clone has them (with uncommitted
    edits): no build/ or *.egg-info, whose stale file lists could put files in a wheel that
    the packaging config leaves out."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", *SOURCES])
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.fixture(scope="module")
def installed_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with requirements.lock and Sluice's two wheels, nothing editable."""
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("installed")
    source = clean_copy(workdir / "source")
    wheels = workdir / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    run([*build, "-w", str(wheels), str(source / "clients"), str(source)], cwd=source)
    environment = workdir / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-deps"]
    run([*pip, "--require-hashes", "-r", str(REPO / "requirements.lock")])
    run([*pip, *(str(wheel) for wheel in sorted(wheels.glob("*.whl")))])
    # Run from the source tree as SluiceCommand does: the import must still be the wheel's.
    where = run([str(python), "-c", "import sluice.downstream.query.docs as m; print(m.__file__)"])
    assert Path(where.strip()).is_relative_to(environment), where
    record_step("installed wheels", time.monotonic() - started)
    return python


@pytest.fixture(scope="module")
def query_url(installed_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The installed ``sluice query`` over an empty SQLite store, with tokens required."""
    workdir = tmp_path_factory.mktemp("query")
    listen = f"127.0.0.1:{free_port()}"
    config = {
        "auth": {"mode": "token", "tokens": [{"tenant": "acme", "sha256": "sha256:" + "0" * 64}]},
        "query": {"listen": listen, "ops_listen": f"127.0.0.1:{free_port()}"},
        "rollup": {"store": {"sqlite_path": str(workdir / "rollup.db")}},
    }
    ready = f"http://{listen}/healthz"
    with SluiceCommand("query", config, workdir, ready, python=installed_python) as process:
        yield f"http://{listen}"
        assert process.stop() == 0, process.logs()


def document(base_url: str) -> dict[str, Any]:
    status, body = http_get(f"{base_url}/openapi.json")
    assert status == 200, body
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def v1_operations(openapi: dict[str, Any]) -> dict[str, str]:
    """The document's ``/v1`` operations: operationId to path."""
    operations = {
        operation["operationId"]: path
        for path, methods in openapi["paths"].items()
        if path.startswith("/v1/")
        for operation in methods.values()
    }
    assert len(operations) >= 4, openapi["paths"]
    return operations


def swagger_ui_lists(dom: str, operations: dict[str, str]) -> list[str]:
    """The paths Swagger UI rendered an operation block for."""
    return [path for path in operations.values() if f'data-path="{path}"' in dom]


def redoc_lists(dom: str, operations: dict[str, str]) -> list[str]:
    """The operations ReDoc rendered a section for."""
    return [op for op in operations if f'id="operation/{op}"' in dom]


def test_swagger_ui_lists_every_v1_operation_offline(query_url: str) -> None:
    operations = v1_operations(document(query_url))

    started = time.monotonic()
    dom = offline_dom(f"{query_url}/docs")
    record_step("browser /docs", time.monotonic() - started)

    assert swagger_ui_lists(dom, operations) == list(operations.values()), dom[-4000:]


def test_redoc_lists_every_v1_operation_offline(query_url: str) -> None:
    operations = v1_operations(document(query_url))

    started = time.monotonic()
    dom = offline_dom(f"{query_url}/redoc")
    record_step("browser /redoc", time.monotonic() - started)

    assert redoc_lists(dom, operations) == list(operations), dom[-4000:]


def test_fastapis_cdn_page_lists_nothing_offline(query_url: str) -> None:
    """The control: today's FastAPI default page, same origin as its document, renders blank."""
    openapi = document(query_url)
    page = get_swagger_ui_html(openapi_url="/openapi.json", title="control").body
    pages = {
        "/docs": ("text/html", page),
        "/openapi.json": ("application/json", json.dumps(openapi).encode()),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            content_type, body = pages.get(self.path, ("text/plain", b""))
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert b"cdn.jsdelivr.net" in page
        dom = offline_dom(f"http://127.0.0.1:{server.server_address[1]}/docs")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)

    assert '<div id="swagger-ui">' in dom
    assert swagger_ui_lists(dom, v1_operations(openapi)) == []
