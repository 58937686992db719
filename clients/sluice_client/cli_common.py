"""Command-line plumbing shared by ``sluice replay`` and ``sluice connect``: the server
connection options, durations such as ``10s``, and a graceful stop on SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Final

from sluice_client import loops
from sluice_client.channel import TlsOptions
from sluice_client.errors import SluiceClientError

DEFAULT_TARGET: Final = "127.0.0.1:50051"
TOKEN_ENV: Final = "SLUICE_TOKEN"
DEFAULT_CONNECT_TIMEOUT_S: Final = 5.0
DEFAULT_CLOSE_TIMEOUT_S: Final = 30.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds of ``500ms``, ``10s``, ``1.5m`` or ``2h``; raises ``ValueError``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a positive duration such as 500ms, 10s, 5m or 1h")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def duration_argument(text: str) -> float:
    """``parse_duration`` as an argparse ``type``."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_server_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--target``, ``--token`` and the TLS options."""
    parser.add_argument("--target", default=DEFAULT_TARGET, help="server host:port")
    parser.add_argument(
        "--token", default=os.environ.get(TOKEN_ENV), help=f"bearer token (default: ${TOKEN_ENV})"
    )
    parser.add_argument("--tls", action="store_true", help="use TLS (implied by the cert options)")
    parser.add_argument("--ca-cert", type=Path, help="CA bundle to verify the server with")
    parser.add_argument("--client-cert", type=Path, help="client certificate, for mTLS")
    parser.add_argument("--client-key", type=Path, help="client private key, for mTLS")
    parser.add_argument("--server-name", help="name to verify the server certificate against")


def tls_options(args: argparse.Namespace) -> TlsOptions | None:
    """The TLS options of ``add_server_arguments``; None for plaintext."""
    if not (args.tls or args.ca_cert or args.client_cert or args.client_key):
        return None
    return TlsOptions(args.ca_cert, args.client_cert, args.client_key, args.server_name)


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``add_server_arguments``, ``--source-id``, ``--batch-size`` and the timeouts."""
    group = parser.add_argument_group("server connection")
    add_server_arguments(group)
    group.add_argument("--source-id", default=None, help="gateway id sent with every batch")
    group.add_argument("--batch-size", type=int, default=500, help="readings per batch")
    group.add_argument("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT_S)
    group.add_argument(
        "--close-timeout",
        type=float,
        default=DEFAULT_CLOSE_TIMEOUT_S,
        help="seconds to wait for the last Acks at the end",
    )


def client_options(args: argparse.Namespace, default_source_id: str) -> dict[str, Any]:
    """``IngestClient`` keyword arguments from the connection options."""
    return {
        "source_id": args.source_id or default_source_id,
        "token": args.token,
        "tls": tls_options(args),
        "max_batch_readings": args.batch_size,
    }


def run_command(prog: str, main: Coroutine[Any, Any, int]) -> int:
    """Runs a command's coroutine on a new loop; a client error prints ``prog: error`` and
    exits 1, Ctrl-C exits 130."""
    try:
        return loops.run(main)
    except SluiceClientError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def stop_on_signals(stop: asyncio.Event) -> None:
    """The first SIGINT or SIGTERM sets ``stop``; the handlers then step aside, so a second
    signal interrupts at once."""
    loop = asyncio.get_running_loop()

    def first_signal() -> None:
        stop.set()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

    # Signal handlers can only be installed from the main thread.
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, first_signal)
