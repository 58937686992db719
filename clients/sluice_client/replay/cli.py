"""``sluice replay``: stream the readings of a log file to a Sluice server.

    sluice replay access /var/log/nginx/access.log --host web-1 [--aggregate 10s] [--follow]
    sluice replay etl runs.jsonl --timezone Europe/Paris [--follow]

Prints a summary at the end: lines read, readings sent, accepted and rejected, and the
malformed lines by reason with the first few of them. Malformed lines are skipped, never
fatal. With ``--follow`` it keeps reading what is appended (across rotation and truncation)
until SIGINT or SIGTERM, then sends what it holds and waits for the Acks.

Exits 0 when every batch was acknowledged, 1 when the server cannot be reached, ends the
stream for good or leaves batches unacknowledged, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sluice_client.cli_common import (
    add_connection_arguments,
    client_options,
    duration_argument,
    run_command,
    stop_on_signals,
)
from sluice_client.client import IngestClient
from sluice_client.errors import AckTimeout
from sluice_client.replay.accesslog import AccessLogParser
from sluice_client.replay.aggregate import WindowAggregator
from sluice_client.replay.etl import EtlLogParser
from sluice_client.replay.follow import DEFAULT_POLL_INTERVAL_S, LogLines
from sluice_client.replay.runner import Aggregated, Converter, PerLine, ReplayStats, replay
from sluice_client.stats import ClientStats

PROG = "sluice replay"


def build_parser() -> argparse.ArgumentParser:
    """The ``sluice replay`` argument parser."""
    parser = argparse.ArgumentParser(prog=PROG, description="Stream a log file as readings.")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{access,etl}")
    access = kinds.add_parser("access", help="nginx/Apache access log (combined format)")
    access.add_argument(
        "--host",
        default=socket.gethostname(),
        help="host (device) of lines without a virtual host (default: this machine's name)",
    )
    access.add_argument(
        "--time-unit",
        choices=("s", "ms", "us"),
        default="s",
        help="unit of a trailing request time: s for nginx $request_time, us for Apache %%D",
    )
    access.add_argument(
        "--aggregate",
        type=duration_argument,
        metavar="WINDOW",
        help="emit counts and sums per window (e.g. 10s) instead of one reading per line",
    )
    etl = kinds.add_parser("etl", help="ETL pipeline run log (JSON Lines)")
    etl.add_argument("--timezone", default="UTC", help="IANA time zone of times without an offset")
    for kind in (access, etl):
        kind.add_argument("file", type=Path, help="the log file (.gz is read decompressed)")
        kind.add_argument("--follow", action="store_true", help="keep reading appended lines")
        kind.add_argument(
            "--from-end", action="store_true", help="with --follow, skip what is already there"
        )
        kind.add_argument(
            "--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL_S, help=argparse.SUPPRESS
        )
        add_connection_arguments(kind)
    return parser


def build_converter(args: argparse.Namespace) -> Converter:
    """The line converter the arguments ask for."""
    if args.kind == "etl":
        return PerLine(EtlLogParser(args.timezone).readings)
    parser = AccessLogParser(args.host, args.time_unit)
    if args.aggregate is None:
        return PerLine(parser.readings)
    return Aggregated(parser, WindowAggregator(int(args.aggregate * 1_000_000_000)))


def print_summary(
    stats: ReplayStats,
    client: ClientStats,
    converter: Converter,
    lines: LogLines,
    out: TextIO | None = None,
) -> None:
    """What was read, sent and answered, and the malformed lines (to ``out``, default stdout)."""
    out = out or sys.stdout
    malformed = stats.malformed
    print(
        f"replay: {stats.lines:,} lines, {stats.readings:,} readings sent,"
        f" {client.readings_accepted:,} accepted, {client.readings_rejected:,} rejected,"
        f" {malformed.total:,} malformed lines",
        file=out,
    )
    if client.rejections_by_reason:
        reasons = ", ".join(f"{r}={n:,}" for r, n in sorted(client.rejections_by_reason.items()))
        print(f"rejections: {reasons}", file=out)
    if malformed.total:
        reasons = ", ".join(f"{r}={n:,}" for r, n in sorted(malformed.by_reason.items()))
        print(f"malformed: {reasons}", file=out)
        for example in malformed.examples:
            print(f"  {example}", file=out)
    if isinstance(converter, Aggregated) and converter.aggregator.late:
        print(f"late lines dropped: {converter.aggregator.late:,}", file=out)
    if lines.rotations or lines.truncations:
        print(f"rotations: {lines.rotations}, truncations: {lines.truncations}", file=out)
    out.flush()


async def _replay(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    if args.follow:
        stop_on_signals(stop)
    lines = LogLines(
        args.file,
        follow=args.follow,
        from_end=args.from_end,
        poll_interval_s=args.poll_interval,
        stop=stop,
    )
    converter = build_converter(args)
    client = IngestClient(args.target, **client_options(args, f"replay-{args.kind}"))
    await client.start(args.connect_timeout)
    stats = ReplayStats()
    try:
        await replay(lines, converter, client, stats)
    finally:
        try:
            await client.close(args.close_timeout)
        except AckTimeout as timeout:
            print(f"{PROG}: {timeout}", file=sys.stderr)
        finally:
            print_summary(stats, client.stats, converter, lines)
    return 1 if client.stats.unacknowledged_batches else 0


def main(argv: list[str] | None = None) -> int:
    """Runs ``sluice replay`` with ``argv`` (default: the process arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if not args.follow and not args.file.is_file():
        parser.error(f"{args.file} is not a file")
    if args.kind == "etl":
        try:
            ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            parser.error(f"--timezone {args.timezone!r} is not an IANA time zone")
    return run_command(PROG, _replay(args))


if __name__ == "__main__":
    sys.exit(main())
