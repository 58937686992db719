"""The bad-input campaign: every test here is marked ``adversarial``, and the session ends
with one line saying how many cases ran (tests, and the examples hypothesis generated)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.campaign import CASES, OUTCOMES

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.adversarial)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.nodeid.startswith("tests/adversarial/"):
        CASES["tests " + report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    parts = ", ".join(f"{count} {kind}" for kind, count in sorted(CASES.items()))
    terminalreporter.write_line(f"adversarial campaign: {sum_cases()} cases ran ({parts})")
    answers = ", ".join(f"{name} {count}" for name, count in OUTCOMES.most_common())
    terminalreporter.write_line(f"adversarial answers: {answers}")


def sum_cases() -> int:
    return sum(count for kind, count in CASES.items() if not kind.startswith("tests "))
