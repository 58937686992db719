"""Sluice's path with every switchable feature off, behind the floor's stream handling.

    python -m benchmarks.baselines.bare_behind_floor --listen ADDR --bootstrap HOST:PORT

``sluice_behind_floor`` with ``ablations.Variant``'s every switch thrown: no metrics, no
dedup cache, no in-flight budget, no rate limiter's buckets, no spool. What is left is
Sluice's path itself: the admission, the four stages, the batch, its records and their
deliveries, and the Ack. Against the floor in the same round it bounds what making the
features' bookkeeping free (in C, say) could buy end to end: if this path stays short of a
target, so would every feature written in C.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.ablations import FEATURES
from benchmarks.baselines.floor import run_from_command_line
from benchmarks.baselines.sluice_behind_floor import serve_behind_floor


async def run(listen: str, bootstrap: str) -> None:
    """Serve until SIGTERM or SIGINT, then drain the pipeline."""
    await serve_behind_floor(listen, bootstrap, frozenset(FEATURES))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server."""
    return run_from_command_line(argv, __doc__.split("\n\n")[0], "127.0.0.1:50083", run)


if __name__ == "__main__":
    raise SystemExit(main())
