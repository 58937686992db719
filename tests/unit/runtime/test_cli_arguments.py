"""`sluice dev` and `sluice serve` refuse a bad fleet size, rate, duration or worker count
before they start anything."""

from __future__ import annotations

import pytest

from sluice.runtime.cli import EXIT_CONFIG, MAX_WORKERS, main
from sluice_client.fleet import MAX_DEVICES
from tests.support.usage import usage_error


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--devices", "0"], "--devices"),
        (["--devices", str(MAX_DEVICES + 1)], "--devices"),
        (["--rate", "-5"], "--rate"),
        (["--rate", "nan"], "--rate"),
        (["--duration", "-1"], "--duration"),
        (["--duration", "inf"], "--duration"),
    ],
)
def test_dev_takes_a_bad_argument_as_a_usage_error_naming_it(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It used to start the broker and the server, then die in a traceback from Fleet.
    err = usage_error(main, ["dev", *argv], capsys)

    assert f"argument {named}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("workers", ["0", "-1", str(MAX_WORKERS + 1), "1000000000"])
def test_serve_refuses_a_worker_count_out_of_range(
    workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--workers", workers]) == EXIT_CONFIG

    assert f"--workers must be 1 to {MAX_WORKERS}" in capsys.readouterr().err
