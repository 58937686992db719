"""The Dockerfile's dependency install, run as written against requirements.lock in a fresh
virtualenv, and Sluice importing and checking a config on exactly that dependency set.

There is no Docker engine here, so this is the part of the image build that can run. It is
one pip install, from pip's cache after the first run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import venv
from pathlib import Path

import dockerfile
import pytest

from tests.support.deploy import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

IMAGE_VENV = "/opt/sluice"
IMAGE_LOCK = "/tmp/requirements.lock"
INSTALL_TIMEOUT_S = 540.0


def dockerfile_install_line() -> str:
    """The RUN line of the Dockerfile that installs the lock file."""
    runs = [c.value[0] for c in dockerfile.parse_file(str(REPO / "Dockerfile")) if c.cmd == "RUN"]
    (line,) = [run for run in runs if IMAGE_LOCK in run]
    return line


def test_the_locked_dependencies_install_and_run_sluice(tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    line = dockerfile_install_line()
    line = line.replace(IMAGE_VENV, str(environment)).replace(
        IMAGE_LOCK, str(REPO / "requirements.lock")
    )
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PIP_CONSTRAINT", None)
    install = subprocess.run(
        shlex.split(line),
        capture_output=True,
        text=True,
        env=env,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-4000:]

    python = environment / "bin" / "python"
    check = subprocess.run(
        [str(python), "-m", "pip", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout
    # Sluice's own code from the source tree, on the locked dependencies alone.
    source = os.pathsep.join(str(REPO / part) for part in ("server", "clients"))
    isolated = {"PATH": os.environ["PATH"], "PYTHONPATH": source}
    imports = run_python(
        python,
        ["-c", "import sluice.runtime.worker, sluice.runtime.dev, sluice_client.simulator"],
        isolated,
    )
    check_config = run_python(python, ["-m", "sluice", "check-config"], isolated)
    assert imports.returncode == 0, imports.stderr
    assert check_config.returncode == 0, check_config.stderr
    assert "config OK" in check_config.stdout


def run_python(
    python: Path, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
