"""Command-line plumbing shared by ``sluice replay``, ``sluice connect``, ``sluice simulate``
and ``sluice dev``: the server connection options, checked argument types (durations such as
``10s``, fleet sizes, rates), and a graceful stop on SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final, TypeVar

from sluice_client import loops
from sluice_client.channel import TlsOptions
from sluice_client.errors import SluiceClientError
from sluice_client.fleet import MAX_DEVICES

DEFAULT_TARGET: Final = "127.0.0.1:50051"
TOKEN_ENV: Final = "SLUICE_TOKEN"
DEFAULT_CONNECT_TIMEOUT_S: Final = 5.0
DEFAULT_CLOSE_TIMEOUT_S: Final = 30.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_N = TypeVar("_N", int, float)
EXIT_USAGE: Final = 2


class UsageError(SluiceClientError):
    """Command-line arguments that do not go together."""


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


def device_count(text: str) -> int:
    """A simulated fleet's size, as an argparse ``type``: 1 to ``MAX_DEVICES``."""
    count = _number(text, int, "a whole number of devices")
    if not 1 <= count <= MAX_DEVICES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a fleet has 1 to {MAX_DEVICES:,} devices (each is built before the "
            "first reading; run several simulators for more)"
        )
    return count


def readings_rate(text: str) -> float:
    """Readings per second, as an argparse ``type``: finite and not negative (0: unlimited)."""
    rate = _number(text, float, "readings per second")
    if not math.isfinite(rate) or rate < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the rate is a finite number of readings per second, 0 for unlimited"
        )
    return rate


def seconds(text: str) -> float:
    """A positive, finite number of seconds, as an argparse ``type``."""
    value = _number(text, float, "seconds")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: need a positive, finite number of seconds")
    return value


def _number(text: str, kind: Callable[[str], _N], what: str) -> _N:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


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
    if (args.client_cert is None) != (args.client_key is None):
        raise UsageError("--client-cert and --client-key go together: give both, or neither")
    return TlsOptions(args.ca_cert, args.client_cert, args.client_key, args.server_name)


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``add_server_arguments``, ``--source-id``, ``--batch-size`` and the timeouts."""
    group = parser.add_argument_group("server connection")
    add_server_arguments(group)
    group.add_argument("--source-id", default=None, help="gateway id sent with every batch")
    group.add_argument("--batch-size", type=int, default=500, help="readings per batch")
    group.add_argument("--connect-timeout", type=seconds, default=DEFAULT_CONNECT_TIMEOUT_S)
    group.add_argument(
        "--close-timeout",
        type=seconds,
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
    exits 1 (a ``UsageError`` exits 2, as argparse does), Ctrl-C exits 130."""
    try:
        return loops.run(main)
    except UsageError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
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
