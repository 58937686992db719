"""``sluice dev`` refuses a bad fleet size, rate or duration before it starts anything."""

from __future__ import annotations

import pytest

from sluice.runtime.cli import main
from sluice_client.fleet import MAX_DEVICES


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
def test_a_bad_argument_is_a_usage_error_naming_it(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It used to start the broker and the server, then die in a traceback from Fleet.
    with pytest.raises(SystemExit) as exited:
        main(["dev", *argv])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {named}" in err
    assert "Traceback" not in err
