"""The worker's garbage-collector settings: start-up objects frozen, collections rare, cycles
still collected. Each case runs in a fresh interpreter, so the test runner keeps its own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from sluice.runtime.collector import YOUNG_THRESHOLD


def run_tuned(body: str) -> dict[str, object]:
    """Run ``body`` after ``tune_for_steady_state()`` in a new interpreter; return the JSON
    it prints."""
    script = "import gc, json\nfrom sluice.runtime.collector import tune_for_steady_state\n"
    script += "tune_for_steady_state()\n" + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_start_up_objects_are_frozen_and_young_collections_are_rare() -> None:
    seen = run_tuned(
        """
        print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                          "enabled": gc.isenabled()}))
        """
    )
    assert seen["enabled"] is True
    assert isinstance(seen["frozen"], int)
    assert seen["frozen"] > 1000
    assert seen["threshold"] == [YOUNG_THRESHOLD, 10, 10]


def test_reference_cycles_are_still_collected_without_being_asked() -> None:
    seen = run_tuned(
        f"""
        import weakref
        class Node:
            pass
        freed = []
        for _ in range(3):
            a, b = Node(), Node()
            a.other, b.other = b, a
            weakref.finalize(a, freed.append, 1)
            del a, b
        # The threshold counts containers allocated and not yet freed: hold enough of them.
        held = [[] for _ in range({YOUNG_THRESHOLD} * 2)]
        print(json.dumps({{"freed": len(freed)}}))
        """
    )
    assert seen["freed"] == 3
