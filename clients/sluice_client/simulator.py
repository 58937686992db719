"""``sluice simulate``: stream a simulated fleet of devices to a Sluice server.

Prints the acknowledged readings per second once a second, and a summary at the end.
Exits 0 when every batch was acknowledged, 1 when the server cannot be reached, ends the
stream for good, or leaves batches unacknowledged.
"""

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import TextIO

from sluice_client.cli_common import (
    add_server_arguments,
    device_count,
    readings_rate,
    run_command,
    seconds,
    tls_options,
)
from sluice_client.fleet import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_DEVICES,
    DEFAULT_RATE,
    DEFAULT_SOURCE_ID,
    Fleet,
    FleetStats,
)

__all__ = ["Fleet", "FleetStats", "build_parser", "main", "print_progress", "print_summary"]

PROG = "sluice simulate"


def build_parser() -> argparse.ArgumentParser:
    """The ``sluice simulate`` argument parser."""
    parser = argparse.ArgumentParser(prog=PROG, description="Stream a simulated device fleet.")
    parser.add_argument("--devices", type=device_count, default=DEFAULT_DEVICES)
    parser.add_argument(
        "--rate",
        type=readings_rate,
        default=DEFAULT_RATE,
        help="readings/s in total; 0 = unlimited",
    )
    parser.add_argument(
        "--duration", type=seconds, default=None, help="seconds; default: until Ctrl-C"
    )
    parser.add_argument("--streams", type=int, default=1, help="gRPC streams (one client each)")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="readings per batch"
    )
    parser.add_argument(
        "--invalid-fraction", type=float, default=0.0, help="share of invalid readings"
    )
    parser.add_argument("--source-id", default=DEFAULT_SOURCE_ID)
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable fleets")
    parser.add_argument("--connect-timeout", type=seconds, default=DEFAULT_CONNECT_TIMEOUT_S)
    add_server_arguments(parser)
    return parser


async def print_progress(
    fleet: Fleet, *, interval_s: float = 1.0, out: TextIO | None = None
) -> None:
    """Prints the fleet's acknowledged readings per second every ``interval_s`` until cancelled
    (to ``out``, default stdout)."""
    out = out or sys.stdout
    last = fleet.stats
    last_at = time.monotonic()
    while True:
        await asyncio.sleep(interval_s)
        now = fleet.stats
        now_at = time.monotonic()
        rate = (now.readings_acknowledged - last.readings_acknowledged) / (now_at - last_at)
        print(
            f"{now.elapsed_s:7.1f}s {rate:>12,.0f} readings/s acked"
            f"  accepted {now.readings_accepted:,}  rejected {now.readings_rejected:,}"
            f"  unacked batches {now.unacknowledged_batches}",
            file=out,
            flush=True,
        )
        last, last_at = now, now_at


def print_summary(stats: FleetStats, out: TextIO | None = None) -> None:
    """Prints the totals of a finished run (to ``out``, default stdout)."""
    out = out or sys.stdout
    rate = stats.readings_acknowledged / stats.elapsed_s if stats.elapsed_s > 0 else 0.0
    print(
        f"summary: {stats.elapsed_s:.1f}s, {rate:,.0f} readings/s acked;"
        f" generated {stats.readings_generated:,} ({stats.invalid_generated:,} invalid),"
        f" accepted {stats.readings_accepted:,}, rejected {stats.readings_rejected:,},"
        f" resends {stats.resends:,}, reconnects {stats.reconnects:,},"
        f" unacknowledged batches {stats.unacknowledged_batches:,}",
        file=out,
        flush=True,
    )
    if stats.rejections_by_reason:
        reasons = ", ".join(f"{r}={n:,}" for r, n in sorted(stats.rejections_by_reason.items()))
        print(f"rejections: {reasons}", file=out, flush=True)


def _stop_on_sigint(stop: asyncio.Event) -> None:
    """The first Ctrl-C stops the fleet gracefully; the handler then steps aside so that a
    second one interrupts at once."""
    loop = asyncio.get_running_loop()

    def first_interrupt() -> None:
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)

    # Signal handlers can only be installed from the main thread.
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, first_interrupt)


async def _simulate(args: argparse.Namespace) -> int:
    fleet = Fleet(
        args.target,
        devices=args.devices,
        rate=args.rate,
        streams=args.streams,
        batch_size=args.batch_size,
        invalid_fraction=args.invalid_fraction,
        source_id=args.source_id,
        seed=args.seed,
        token=args.token,
        tls=tls_options(args),
        connect_timeout_s=args.connect_timeout,
    )
    stop = asyncio.Event()
    _stop_on_sigint(stop)
    if args.duration is not None:
        asyncio.get_running_loop().call_later(args.duration, stop.set)
    progress = asyncio.create_task(print_progress(fleet))
    try:
        stats = await fleet.run(stop)
    finally:
        progress.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await progress
    print_summary(stats)
    if stats.unacknowledged_batches:
        print(f"{PROG}: {stats.unacknowledged_batches} batch(es) unacknowledged", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs ``sluice simulate`` with ``argv`` (default: the process arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.streams < 1 or args.streams > args.devices:
        parser.error("need 1 <= --streams <= --devices")
    if args.batch_size < 1 or not 0.0 <= args.invalid_fraction <= 1.0:
        parser.error("need --batch-size >= 1 and --invalid-fraction in [0, 1]")
    return run_command(PROG, _simulate(args))


if __name__ == "__main__":
    sys.exit(main())
