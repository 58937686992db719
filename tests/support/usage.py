"""Running a command's ``main`` on arguments argparse must refuse."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def usage_error(
    main: Callable[[list[str]], object], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> str:
    """What ``main(argv)`` printed on stderr as it exited with argparse's usage error, 2."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err
