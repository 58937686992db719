"""The ``sluice`` command: serve, dev, simulate, check-config and create-topics."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sluice.core.config.base import ConfigError
from sluice.core.config.settings import Settings, load_settings
from sluice.core.netutil import free_port, with_port
from sluice.runtime.topics_command import add_topics_command, create_topics_command
from sluice_client.cli_common import device_count, readings_rate, seconds

EXIT_CONFIG = 2
MAX_WORKERS = 256
"""More worker processes than any machine has cores for; the supervisor keeps one entry per
worker, so a mistyped count (10**9) would exhaust memory before the first fork."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand but the client commands (``simulate``,
    ``replay``, ``connect``), which have their own."""
    parser = argparse.ArgumentParser(prog="sluice", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the ingestion server")
    serve.add_argument("--config", type=Path, help="YAML config file")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port (default 1)"
    )

    check = commands.add_parser("check-config", help="validate a config file and the environment")
    check.add_argument("--config", type=Path, help="YAML config file")

    dev = commands.add_parser(
        "dev", help="run a local broker, the server and a simulated fleet, showing throughput"
    )
    dev.add_argument(
        "--config",
        type=Path,
        help="YAML config file (kafka is overridden; logging.* unset: WARNING+ as text)",
    )
    dev.add_argument("--devices", type=device_count, default=200)
    dev.add_argument("--rate", type=readings_rate, default=20_000.0, help="readings per second")
    dev.add_argument("--duration", type=seconds, default=None, help="seconds; default until Ctrl-C")

    add_topics_command(commands)

    rollup = commands.add_parser(
        "rollup", help="roll the readings topic up per hour into the roll-up store"
    )
    rollup.add_argument("--config", type=Path, help="YAML config file (rollup, kafka sections)")
    query = commands.add_parser("query", help="serve the query API over the roll-up store")
    query.add_argument("--config", type=Path, help="YAML config file (query, rollup.store)")

    commands.add_parser(
        "hash-token",
        help="print the sha256:<hex> digest of a bearer token read from stdin, for auth.tokens",
    )

    commands.add_parser("simulate", help="stream a simulated fleet to a server", add_help=False)
    commands.add_parser(
        "replay", help="stream a log file (access or ETL runs) as readings", add_help=False
    )
    commands.add_parser(
        "connect", help="poll a JSON API into readings (connector spec)", add_help=False
    )
    return parser


def load_or_exit(path: Path | None) -> Settings:
    """Load the configuration, or print what is wrong with it and exit 2."""
    try:
        return load_settings(path)
    except ConfigError as error:
        print(f"sluice: invalid configuration:\n{error}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def run_worker(settings: Settings, config: Path | None = None) -> int:
    """Run one worker in this process, on uvloop; SIGHUP re-reads ``config`` for its tokens."""
    import uvloop

    from sluice.ops.logs import configure_logging
    from sluice.ops.metrics import Metrics
    from sluice.ops.tracing import configure_tracing, shutdown_tracing
    from sluice.runtime.scheduling import apply_cpu_scheduling
    from sluice.runtime.worker import serve

    configure_logging(settings.logging)
    # Before any thread starts (span exporter, grpc, librdkafka), so that all inherit it.
    apply_cpu_scheduling(settings.server.cpu_scheduling)
    configure_tracing()
    try:
        return uvloop.run(serve(settings, Metrics(), lambda: load_settings(config)))
    finally:
        shutdown_tracing()


def run_supervisor(settings: Settings, config: Path | None, workers: int) -> int:
    """Run ``workers`` worker processes sharing the gRPC and ops ports."""
    from sluice.ops.logs import configure_logging
    from sluice.runtime.supervisor import Supervisor, SupervisorError

    configure_logging(settings.logging)
    env = dict(os.environ)
    # Every worker must bind the same ports, so a port 0 is resolved once, here.
    env["SLUICE__SERVER__LISTEN"] = with_port(settings.server.listen, free_port)
    env["SLUICE__OPS__LISTEN"] = with_port(settings.ops.listen, free_port)
    if settings.http.enabled:
        env["SLUICE__HTTP__LISTEN"] = with_port(settings.http.listen, free_port)
    command = [sys.executable, "-m", "sluice", "serve", "--workers", "1"]
    if config is not None:
        command += ["--config", str(config)]
    # Workers get their whole drain, a delivery timeout and the spool flush before a SIGKILL.
    grace = (
        settings.server.drain_timeout_s
        + settings.kafka.delivery_timeout_ms / 1000
        + settings.spool.drain_timeout_s
        + 5
    )
    supervisor = Supervisor(workers, lambda _index: command, env=env, shutdown_grace_s=grace)
    try:
        return supervisor.run()
    except SupervisorError as error:
        print(f"sluice: {error}", file=sys.stderr)
        return EXIT_CONFIG


def run_rollup_or_query(command: str, settings: Settings, config: Path | None = None) -> int:
    """Run ``sluice rollup`` or ``sluice query`` in this process, on uvloop; ``sluice query``
    re-reads ``config`` for its tokens on SIGHUP."""
    import uvloop

    from sluice.downstream.rollup.store import StoreUnavailable
    from sluice.ops.logs import configure_logging
    from sluice.ops.server import CannotListen

    configure_logging(settings.logging)
    try:
        if command == "rollup":
            from sluice.downstream.rollup.metrics import RollupMetrics
            from sluice.downstream.rollup.service import serve_rollup

            return uvloop.run(serve_rollup(settings, RollupMetrics()))
        from sluice.downstream.query.service import serve_query

        return uvloop.run(serve_query(settings, lambda: load_settings(config)))
    except StoreUnavailable as error:
        print(f"sluice: the roll-up store is unavailable: {error}", file=sys.stderr)
        return 1
    except CannotListen as error:
        print(f"sluice {command}: {error}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sluice`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["simulate"]:
        from sluice_client.simulator import main as simulate

        return simulate(args_list[1:])
    if args_list[:1] == ["replay"]:
        from sluice_client.replay.cli import main as replay

        return replay(args_list[1:])
    if args_list[:1] == ["connect"]:
        from sluice_client.connect.cli import main as connect

        return connect(args_list[1:])
    args = build_parser().parse_args(args_list)
    if args.command == "check-config":
        settings = load_or_exit(args.config)
        print(
            f"config OK: grpc {settings.server.listen}, ops {settings.ops.listen}, "
            f"kafka {settings.kafka.bootstrap_servers} -> {settings.kafka.topic}"
        )
        return 0
    if args.command == "create-topics":
        return create_topics_command(args, load_or_exit(args.config))
    if args.command == "hash-token":
        from sluice.ops.auth import token_digest

        token = sys.stdin.readline().strip()
        if not token:
            print("sluice: hash-token reads the token from stdin; got nothing", file=sys.stderr)
            return EXIT_CONFIG
        print(token_digest(token))
        return 0
    if args.command == "serve":
        settings = load_or_exit(args.config)
        if not 1 <= args.workers <= MAX_WORKERS:
            print(f"sluice: --workers must be 1 to {MAX_WORKERS}", file=sys.stderr)
            return EXIT_CONFIG
        if args.workers == 1:
            return run_worker(settings, args.config)
        return run_supervisor(settings, args.config, args.workers)
    if args.command in ("rollup", "query"):
        return run_rollup_or_query(args.command, load_or_exit(args.config), args.config)
    if args.command == "dev":
        import uvloop

        from sluice.runtime.dev import run_dev

        settings = load_or_exit(args.config)
        return uvloop.run(run_dev(settings, args.devices, args.rate, args.duration))
    return EXIT_CONFIG
