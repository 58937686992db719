"""server.cpu_scheduling: the worker thread's policy, inherited by the threads it starts."""

from __future__ import annotations

import os
import threading

import pytest

from sluice.runtime.scheduling import CpuScheduling, apply_cpu_scheduling


def policies_in_a_thread(policy: CpuScheduling) -> tuple[bool, int, int]:
    """Apply ``policy`` in a fresh thread (the policy is per thread, so the test runner keeps
    its own); return what it said, its policy, and the policy of a thread it then started."""
    seen: dict[str, object] = {}

    def child() -> None:
        seen["child"] = os.sched_getscheduler(0)

    def worker() -> None:
        seen["applied"] = apply_cpu_scheduling(policy)
        seen["own"] = os.sched_getscheduler(0)
        started = threading.Thread(target=child)
        started.start()
        started.join()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    return seen["applied"], seen["own"], seen["child"]  # type: ignore[return-value]


def test_batch_is_applied_and_inherited_by_threads_started_later() -> None:
    assert policies_in_a_thread("batch") == (True, os.SCHED_BATCH, os.SCHED_BATCH)


def test_normal_leaves_the_policy_alone() -> None:
    before = os.sched_getscheduler(0)
    assert policies_in_a_thread("normal") == (False, before, before)


def test_a_refused_policy_is_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*_args: object) -> None:
        raise PermissionError("not allowed")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    assert apply_cpu_scheduling("batch") is False
    assert "server.cpu_scheduling: batch was refused: not allowed" in caplog.text
