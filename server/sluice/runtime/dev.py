"""``sluice dev``: a local broker, the server and a simulated fleet, with live throughput,
and the roll-up (SQLite) with the query API over it, so the fleet's hourly figures show.

Everything runs on loopback and everything started here is stopped on Ctrl-C (or after
``--duration``): the fleet first, then the server drains, then the query API and the
roll-up stop, then the broker.

The console reads like a dashboard: the progress lines and the summaries on stdout, and on
stderr only the logs at WARNING and above, as text. A config that sets ``logging.level`` or
``logging.format`` (in the file or as ``SLUICE__LOGGING__*``) gets what it set. ``serve``,
``rollup`` and ``query`` keep their JSON logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from sluice.core.config.ops import LoggingConfig
from sluice.core.config.settings import Settings
from sluice.core.config.spool import DEFAULT_DIR as DEFAULT_SPOOL_DIR
from sluice.core.netutil import split_host_port
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import BrokerError, TansuBroker
from sluice.ops.logs import configure_logging
from sluice.ops.metrics import Metrics
from sluice.ops.server import CannotListen
from sluice.runtime.dev_rollup import EmbeddedRollup, with_dev_rollup
from sluice.runtime.worker import EXIT_CANNOT_LISTEN, Worker

DEV_STREAMS = 4
EXIT_NO_BROKER = 2
"""The exit status when the embedded broker cannot start (not installed, say)."""
DEV_INVALID_FRACTION = 0.01
DEV_LOGGING = LoggingConfig(level="WARNING", format="text")
"""The logs of ``sluice dev``, for the fields the config leaves unset."""


def dev_logging(configured: LoggingConfig) -> LoggingConfig:
    """``DEV_LOGGING``, with the fields of ``configured`` that the config set explicitly."""
    explicit = configured.model_dump(include=configured.model_fields_set)
    return DEV_LOGGING.model_copy(update=explicit)


def with_dev_spool(settings: Settings, directory: Path) -> Settings:
    """``settings`` spooling into ``directory``, unless ``spool.dir`` was configured: the dev
    broker keeps nothing across runs, so neither does the dev spool."""
    if settings.spool.dir != DEFAULT_SPOOL_DIR:
        return settings
    spool = settings.spool.model_copy(update={"dir": directory})
    return settings.model_copy(update={"spool": spool})


def with_bootstrap(settings: Settings, bootstrap: str) -> Settings:
    """``settings`` pointed at the local broker."""
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    return settings.model_copy(update={"kafka": kafka})


async def run_dev(settings: Settings, devices: int, rate: float, duration: float | None) -> int:
    """Run the embedded default until Ctrl-C or ``duration`` seconds; returns the exit code."""
    from sluice_client.fleet import Fleet
    from sluice_client.simulator import print_progress, print_summary

    logs = dev_logging(settings.logging)
    configure_logging(logs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    broker = TansuBroker()
    try:
        broker.start()
    except BrokerError as error:
        print(f"sluice dev: {error}", file=sys.stderr)
        return EXIT_NO_BROKER
    spool_dir = tempfile.mkdtemp(prefix="sluice-dev-spool-")
    rollup_dir = tempfile.mkdtemp(prefix="sluice-dev-rollup-")
    try:
        create_topics(broker.bootstrap, [settings.kafka.topic, settings.kafka.dlq_topic])
        settings = with_dev_spool(with_bootstrap(settings, broker.bootstrap), Path(spool_dir))
        worker = Worker(settings, Metrics())
        try:
            await worker.start()
        except CannotListen as error:
            await worker.shutdown()
            print(f"sluice dev: {error}", file=sys.stderr)
            return EXIT_CANNOT_LISTEN
        embedded = EmbeddedRollup(
            with_dev_rollup(settings, Path(rollup_dir)), worker.metrics.registry
        )
        ops_host = split_host_port(settings.ops.listen)[0]
        print(
            f"sluice dev: broker {broker.bootstrap}, gRPC 127.0.0.1:{worker.grpc_port}, "
            f"ops {ops_host}:{worker.ops_port}; {devices} devices at {rate:,.0f} readings/s. "
            "Ctrl-C stops.",
            flush=True,
        )
        print(
            f"sluice dev: logs at {logs.level} and above, as {logs.format}, on stderr "
            "(logging.level and logging.format in --config change that)",
            flush=True,
        )
        try:
            await embedded.start()
            print(
                f"sluice dev: hourly roll-ups at {embedded.query_url}/docs, e.g. "
                f"curl {embedded.query_url}/v1/metrics/temperature/hourly",
                flush=True,
            )
            fleet = Fleet(
                f"127.0.0.1:{worker.grpc_port}",
                devices=devices,
                rate=rate,
                streams=min(DEV_STREAMS, devices),
                invalid_fraction=DEV_INVALID_FRACTION,
            )
            progress = asyncio.create_task(print_progress(fleet))
            try:
                await fleet.run(stop if duration is None else _first(stop, duration))
            finally:
                progress.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await progress
            print_summary(fleet.stats)
            if await embedded.catch_up(fleet.stats.readings_accepted):
                print(embedded.summary(), flush=True)
        finally:
            await worker.shutdown()
            await embedded.shutdown()
    finally:
        broker.stop()
        shutil.rmtree(spool_dir, ignore_errors=True)
        shutil.rmtree(rollup_dir, ignore_errors=True)
    print("sluice dev: stopped", file=sys.stderr, flush=True)
    return 0


def _first(stop: asyncio.Event, duration: float) -> asyncio.Event:
    """An event set by ``stop`` or after ``duration`` seconds, whichever comes first."""
    asyncio.get_running_loop().call_later(duration, stop.set)
    return stop
