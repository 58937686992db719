"""The C extension, built with AddressSanitizer and UndefinedBehaviorSanitizer, passes its own
tests: every out-of-bounds read, use after free or undefined operation that the fuzzers
reach aborts the run.

The extension is compiled again into a scratch directory with the sanitizers, and a child
Python (with the sanitizer runtimes preloaded) imports it in place of the installed one
before it runs the extension's tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
SOURCES = sorted((ROOT / "server" / "sluice" / "core").glob("_wire*.c"))
TESTS = [
    "tests/unit/stages/process/test_process_wire.py",
    "tests/unit/stages/process/test_process_wire_checks.py",
]
RUNNER = """
import importlib.util, sys
import pytest
import sluice.core
spec = importlib.util.spec_from_file_location("sluice.core._wire", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["sluice.core._wire"] = module
sluice.core._wire = module
code = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:randomly", *sys.argv[2:]])
import sluice.core._wire as used
assert used.__file__ == sys.argv[1], used.__file__
sys.exit(code)
"""


def runtime(gcc: str, name: str) -> str:
    """The path of a sanitizer runtime library that ``gcc`` links against."""
    path = subprocess.run(
        [gcc, f"-print-file-name={name}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(path).is_file(), f"{name} is not installed for {gcc} (Debian: libasan, libubsan)"
    return path


def test_the_extension_passes_its_tests_under_asan_and_ubsan(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc is needed to build the extension (make install has it)"
    built = tmp_path / "_wire_sanitized.so"
    subprocess.run(
        [
            gcc,
            "-shared",
            "-fPIC",
            "-O1",
            "-g",
            "-fno-omit-frame-pointer",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=undefined",
            "-ffp-contract=off",
            f"-I{sysconfig.get_paths()['include']}",
            *map(str, SOURCES),
            "-o",
            str(built),
        ],
        check=True,
        timeout=300,
    )
    env = dict(os.environ)
    env["LD_PRELOAD"] = f"{runtime(gcc, 'libasan.so')} {runtime(gcc, 'libubsan.so')}"
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"  # CPython's arenas look like leaks
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(built), *TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "passed" in result.stdout
