"""The import contracts (pyproject.toml, ``[tool.importlinter]``): every module they name
exists, so that a rename cannot leave a contract guarding nothing, and they are kept."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from importlinter import api

from tests.support.deploy import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MODULE_FIELDS = ("source_modules", "forbidden_modules", "ancestors", "modules", "containers")


def named_modules() -> set[str]:
    """Every module a contract (or the root package list) names."""
    configuration = api.read_configuration(str(REPO / "pyproject.toml"))
    names = set(configuration["session_options"]["root_packages"])
    for contract in configuration["contracts_options"]:
        for layer in contract.get("layers", []):
            names.update(part.strip("() ") for part in re.split(r"[|:]", layer))
        for field in MODULE_FIELDS:
            names.update(contract.get(field, []))
    return names


def test_the_contracts_name_the_server_layers_and_the_client() -> None:
    names = named_modules()
    for layer in ("core", "ops", "delivery", "stages", "frontdoors", "downstream", "runtime"):
        assert f"sluice.{layer}" in names
    assert {"sluice_client", "sluice.v1", "sluice.delivery.spool"} <= names


@pytest.mark.parametrize("module", sorted(named_modules()))
def test_every_module_a_contract_names_exists(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, f"{module} is in a contract, not the tree"


def test_every_contract_is_kept() -> None:
    result = subprocess.run(
        [str(LINT_IMPORTS)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout
