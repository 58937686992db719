"""The committed protobuf code and the proto guards agree with protos/.

The generated code in clients/sluice/v1 must be exactly what a fresh ``grpc_tools.protoc`` run
produces, and ``buf lint`` and ``buf breaking`` (the pinned npm ``@bufbuild/buf`` in tools/)
must pass. The buf guards are also shown to catch a lint violation and a breaking change.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROTO = Path("protos/sluice/v1/ingest.proto")
GENERATED_DIR = REPO / "clients" / "sluice" / "v1"
GENERATED_FILES = ["ingest_pb2.py", "ingest_pb2.pyi", "ingest_pb2_grpc.py"]
BUF = REPO / "tools" / "node_modules" / ".bin" / "buf"
BASELINE = REPO / "protos" / "baseline" / "sluice-v1.binpb"
BUF_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def fresh_generation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the same protoc command as ``make proto`` into a temporary directory."""
    out = tmp_path_factory.mktemp("generated")
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-Iprotos",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        str(PROTO),
    ]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"protoc failed:\n{result.stderr}"
    return out / "sluice" / "v1"


@pytest.mark.parametrize("name", GENERATED_FILES)
def test_committed_code_matches_fresh_protoc_run(fresh_generation: Path, name: str) -> None:
    fresh = (fresh_generation / name).read_bytes()
    committed = (GENERATED_DIR / name).read_bytes()
    assert committed == fresh, (
        f"clients/sluice/v1/{name} differs from a fresh grpc_tools.protoc run with grpcio-tools "
        f"{version('grpcio-tools')}: run `make proto` and commit the result (the version is "
        "pinned in pyproject.toml; regenerate whenever the pin moves)"
    )


def test_protoc_generates_no_other_files(fresh_generation: Path) -> None:
    assert sorted(path.name for path in fresh_generation.iterdir()) == sorted(GENERATED_FILES)


def run_buf(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run the pinned buf; fail (never skip) when `make install` has not installed it."""
    if not BUF.exists():
        pytest.fail(f"{BUF.relative_to(REPO)} is missing: run `make tools` (or `make install`)")
    return subprocess.run(
        [str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=BUF_TIMEOUT_S
    )


def test_buf_lint_passes() -> None:
    result = run_buf("lint")
    assert result.returncode == 0, f"buf lint:\n{result.stdout}{result.stderr}"


def test_buf_breaking_passes_against_the_baseline() -> None:
    result = run_buf("breaking", "--against", str(BASELINE))
    assert result.returncode == 0, f"buf breaking:\n{result.stdout}{result.stderr}"


@pytest.fixture
def proto_copy(tmp_path: Path) -> Path:
    """A scratch copy of buf.yaml and protos/ that a test may edit."""
    shutil.copy2(REPO / "buf.yaml", tmp_path / "buf.yaml")
    shutil.copytree(REPO / "protos" / "sluice", tmp_path / "protos" / "sluice")
    return tmp_path


def buf_rules(result: subprocess.CompletedProcess[str]) -> set[str]:
    """The rule ids in buf's ``--error-format=json`` output, one JSON object per line."""
    return {json.loads(line)["type"] for line in result.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize(
    ("command", "before", "after", "rules"),
    [
        pytest.param(
            "breaking",
            "string reason = 6;",
            "string reason = 7;",
            {"FIELD_NO_DELETE"},
            id="renumbered-field",
        ),
        pytest.param(
            "breaking",
            "uint32 accepted = 3;",
            "uint64 accepted = 3;",
            {"FIELD_SAME_TYPE"},
            id="retyped-field",
        ),
        pytest.param(
            "breaking",
            "string metric = 3;",
            "string metric_name = 3;",
            {"FIELD_SAME_NAME", "FIELD_SAME_JSON_NAME"},
            id="renamed-field",
        ),
        pytest.param(
            "breaking",
            "string reason = 6;",
            "string reason = 6;\n  string detail = 7;",
            set(),
            id="added-field-is-compatible",
        ),
        pytest.param(
            "lint",
            "string device_id = 1;",
            "string deviceId = 1;",
            {"FIELD_LOWER_SNAKE_CASE"},
            id="camel-case-field",
        ),
        pytest.param(
            "lint",
            "package sluice.v1;",
            "package sluice;",
            {"PACKAGE_VERSION_SUFFIX", "PACKAGE_DIRECTORY_MATCH"},
            id="unversioned-package",
        ),
    ],
)
def test_buf_guards_judge_a_change(
    proto_copy: Path, command: str, before: str, after: str, rules: set[str]
) -> None:
    proto = proto_copy / PROTO
    text = proto.read_text(encoding="utf-8")
    assert before in text
    proto.write_text(text.replace(before, after, 1), encoding="utf-8")
    args = ["breaking", "--against", str(BASELINE)] if command == "breaking" else ["lint"]
    result = run_buf(*args, "--error-format=json", cwd=proto_copy)
    assert buf_rules(result) == rules, result.stderr
    assert (result.returncode == 0) == (not rules)
