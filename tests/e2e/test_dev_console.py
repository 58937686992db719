"""``sluice dev``'s console reads like a dashboard: progress and summaries, warnings as text.

A real ``sluice dev`` run each time (broker, server, roll-up, query API and fleet in one
process). Its query.listen port is held by the test, so the run logs a real WARNING ("is
taken; using a free port"), which must show, as text, while INFO stays quiet. A config that
sets ``logging.*`` gets what it set.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

RUN_TIMEOUT_S = 120.0
PROGRESS = re.compile(r"^\s*\d+\.\ds\s+[\d,]+ readings/s acked\s+accepted [\d,]+", re.MULTILINE)
SUMMARY = re.compile(r"^summary: .* accepted ([\d,]+), rejected", re.MULTILINE)
ROLLUP = re.compile(r"^roll-up: this hour .*(\n\s+\w+\s+devices\s+10\s+readings .*)+", re.M)
TAKEN = "query.listen 127.0.0.1:{port} is taken; using a free port"


@dataclass
class Console:
    """What one ``sluice dev`` run printed."""

    returncode: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        """The lines of stdout and stderr that are JSON objects (log events)."""
        found = []
        for line in (self.stdout + self.stderr).splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                found.append(event)
        return found


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port someone else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def sluice_dev(tmp_path: Path, query_port: int, **config: Any) -> Console:
    """Run ``sluice dev`` for a few seconds with ``config`` and return its console."""
    path = tmp_path / "dev.yaml"
    listeners = {
        "server": {"listen": "127.0.0.1:0"},
        "ops": {"listen": "127.0.0.1:0"},
        "query": {"listen": f"127.0.0.1:{query_port}"},
    }
    path.write_text(yaml.safe_dump({**listeners, **config}), encoding="utf-8")
    command = [sys.executable, "-m", "sluice", "dev", "--config", str(path)]
    command += ["--devices", "10", "--rate", "500", "--duration", "3"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return Console(process.returncode, stdout, stderr)


def assert_dashboard(console: Console) -> None:
    """Progress lines, the fleet's summary and the roll-up's, all on stdout."""
    assert console.returncode == 0, console.stderr
    assert len(PROGRESS.findall(console.stdout)) >= 2, console.stdout
    assert SUMMARY.search(console.stdout), console.stdout
    assert ROLLUP.search(console.stdout), console.stdout


def test_the_console_shows_progress_and_summaries_and_warnings_as_text(
    tmp_path: Path, taken_port: int
) -> None:
    console = sluice_dev(tmp_path, taken_port)

    assert_dashboard(console)
    assert console.json_lines() == []
    assert re.search(
        rf"^\S+Z WARNING sluice\.runtime\.dev_rollup: {re.escape(TAKEN.format(port=taken_port))}$",
        console.stderr,
        re.MULTILINE,
    ), console.stderr
    assert " INFO " not in console.stderr, console.stderr
    assert "logs at WARNING and above, as text, on stderr" in console.stdout


def test_a_config_that_sets_logging_gets_json(tmp_path: Path, taken_port: int) -> None:
    console = sluice_dev(tmp_path, taken_port, logging={"level": "INFO", "format": "json"})

    assert_dashboard(console)
    events = console.json_lines()
    messages = {(event["level"], event["message"]) for event in events}
    assert ("INFO", "sluice worker ready") in messages, console.stderr
    assert ("WARNING", TAKEN.format(port=taken_port)) in messages, console.stderr


def test_a_config_that_sets_only_the_level_keeps_text(tmp_path: Path, taken_port: int) -> None:
    console = sluice_dev(tmp_path, taken_port, logging={"level": "INFO"})

    assert_dashboard(console)
    assert console.json_lines() == []
    ready = re.compile(r"^\S+Z INFO sluice\.runtime\.worker: sluice worker ready ", re.M)
    assert ready.search(console.stderr), console.stderr
