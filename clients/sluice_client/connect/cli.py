"""``sluice connect``: run a polling connector into a Sluice server.

    sluice connect --spec connectors/weather.yaml [--state-dir DIR] [--once] [--check]

The spec is validated first (``--check`` stops there). Then the connector polls on its
schedule until SIGINT or SIGTERM, logging one line per poll to stderr (with the drift it
met, if any) and a summary to stdout at the end; its checkpoint lives in
``--state-dir`` (default ``.sluice-connect``) and survives restarts.

Exits 0 when done (a disabled connector exits 0 at once), 1 when the server cannot be
reached or leaves batches unacknowledged, or with ``--once`` when the poll failed, 2 for a
bad spec, a bad checkpoint or bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import httpx

from sluice_client.cli_common import (
    add_connection_arguments,
    client_options,
    run_command,
    stop_on_signals,
)
from sluice_client.client import IngestClient
from sluice_client.connect.checkpoint import CheckpointError, CheckpointStore
from sluice_client.connect.runner import Connector
from sluice_client.connect.spec import ConnectorSpec, SpecError, load_spec
from sluice_client.errors import AckTimeout

PROG = "sluice connect"
EXIT_USAGE = 2
DEFAULT_STATE_DIR = Path(".sluice-connect")


def build_parser() -> argparse.ArgumentParser:
    """The ``sluice connect`` argument parser."""
    parser = argparse.ArgumentParser(prog=PROG, description="Poll a JSON API into Sluice.")
    parser.add_argument("--spec", type=Path, required=True, help="connector spec (YAML)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help=f"where checkpoints are kept (default: {DEFAULT_STATE_DIR})",
    )
    parser.add_argument("--once", action="store_true", help="poll once and exit")
    parser.add_argument("--check", action="store_true", help="validate the spec and exit")
    add_connection_arguments(parser)
    return parser


async def _connect(args: argparse.Namespace, spec: ConnectorSpec, store: CheckpointStore) -> int:
    stop = asyncio.Event()
    stop_on_signals(stop)
    client = IngestClient(args.target, **client_options(args, f"connect-{spec.name}"))
    await client.start(args.connect_timeout)
    try:
        async with httpx.AsyncClient(follow_redirects=True) as http:
            connector = Connector(spec, client, http, store)
            stats = await connector.run(stop, max_polls=1 if args.once else None)
    finally:
        try:
            await client.close(args.close_timeout)
        except AckTimeout as timeout:
            print(f"{PROG}: {timeout}", file=sys.stderr)
    print(
        f"{PROG}: {stats.polls} polls ({stats.failed_polls} failed), {stats.readings} readings,"
        f" checkpoint {connector.cursor!r}",
        flush=True,
    )
    if client.stats.unacknowledged_batches:
        return 1
    return 1 if args.once and stats.failed_polls else 0


def main(argv: list[str] | None = None) -> int:
    """Runs ``sluice connect`` with ``argv`` (default: the process arguments)."""
    args = build_parser().parse_args(argv)
    try:
        spec = load_spec(args.spec)
        store = CheckpointStore(args.state_dir, spec.name)
        store.load()
    except (SpecError, CheckpointError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        print(f"{PROG}: {args.spec} is a valid connector spec ({spec.name} v{spec.version})")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not spec.enabled:
        print(f"{PROG}: {spec.name} is disabled (enabled: false); nothing to do")
        return 0
    return run_command(PROG, _connect(args, spec, store))


if __name__ == "__main__":
    sys.exit(main())
