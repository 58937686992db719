"""The benchmark scenarios, and how each runs against real processes on loopback.

The server under test runs on ``server_cpus``; the load generator and the broker on
``load_cpus``. A scenario's numbers come from one measured window: the load generator counts
the Acks that arrive in it, and the server's process tree is measured over the same window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.loadgen import percentile
from benchmarks.procs import STOP_TIMEOUT_S, Launched, pinned, split_by_kind
from benchmarks.workloads import WORKLOADS, BatchFactory
from sluice.core.netutil import free_port
from sluice.core.record_contract import DEFAULT_DLQ_TOPIC, DEFAULT_TOPIC
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker

PYTHON = sys.executable
NATIVE_TRANSPORT = Path(__file__).resolve().parent.parent / "build" / "native_transport"
"""Built by ``make native-transport`` (which ``make bench`` runs)."""
START_DELAY_S = 4.0
"""Time the load generator gets to start its processes and connect before its warm-up."""
CONNECTS_PER_S = 500
"""Connections the load generator is given time to open per second, on top of the delay."""
HTTP_CONNECT_S = 0.5
"""Time h2load takes to start and connect before its warm-up begins."""
HTTP_OK = 200
H2LOAD = "h2load"
"""nghttp2's load generator (Debian nghttp2-client; ``make bench`` installs it)."""
IDLE_SETTLE_S = 1.0
"""How long a ready server is left alone before its idle memory is read."""


@dataclass(frozen=True, slots=True)
class Load:
    """How the load generator drives a scenario."""

    processes: int = 2
    streams: int = 2
    window: int = 16


@dataclass(frozen=True, slots=True)
class Scenario:
    """One measured run."""

    name: str
    title: str
    server: str
    """``sluice``, ``transport`` (the transport ceiling), ``native`` (the native transport),
    ``floor``, ``sluice_behind_floor``, ``bare_behind_floor``, ``http_floor``, ``naive`` or
    ``sink``."""
    workload: str = "plain"
    batch_size: int = 100
    workers: int = 1
    """Serving processes: Sluice's ``--workers``, or the floor's ``--processes``."""
    pinned: bool = True
    """False runs server and load anywhere on the machine (the multi-worker comparison)."""
    load: Load = field(default_factory=Load)
    rate_of: str | None = None
    """Hold this share of another scenario's measured readings/s, with ``--rate``."""
    rate_share: float = 0.5
    rate: float | None = None
    """Hold this many readings/s in total, with ``--rate``."""
    warmup_s: float | None = None
    """Unmeasured seconds before the window; by default the run's ``--warmup``."""
    duration_s: float | None = None
    """Measured seconds; by default the run's ``--duration``."""
    once: bool = False
    """Run in the first round only (a long scenario whose figures barely move)."""
    config: dict[str, Any] = field(default_factory=dict)
    """Config sections merged into the Sluice server's own (``sluice`` scenarios only)."""
    protocol: str = "grpc"
    """``grpc`` (the native load generator) or ``http`` (``POST /v1/ingest`` from h2load,
    with ``load.streams`` connections and ``load.processes`` threads)."""

    @property
    def streams(self) -> int:
        """How many streams (each on a connection of its own) the load holds open."""
        return self.load.processes * self.load.streams


@dataclass(slots=True)
class Bench:
    """What every scenario shares: a scratch directory, the CPU split and the timing. Each
    scenario gets a fresh broker (Tansu keeps every record in memory)."""

    workdir: Path
    server_cpus: tuple[int, ...] = (0,)
    load_cpus: tuple[int, ...] = (1,)
    duration_s: float = 10.0
    warmup_s: float = 3.0
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    bootstrap: str = ""

    def run(self, scenario: Scenario) -> dict[str, Any]:
        """Run ``scenario`` against a fresh broker on the load CPUs, and keep its result."""
        log = self.workdir / f"{scenario.name}.broker.log"
        with TansuBroker(log_path=log) as broker:
            if scenario.pinned:
                os.sched_setaffinity(broker.pid, self.load_cpus)
            create_topics(broker.bootstrap, [DEFAULT_TOPIC, DEFAULT_DLQ_TOPIC])
            self.bootstrap = broker.bootstrap
            if scenario.server == "sink":
                result = self._run_sink(scenario)
            elif scenario.protocol == "http":
                result = self._run_http(scenario)
            else:
                result = self._run_served(scenario)
        result.update(
            title=scenario.title,
            workload=scenario.workload,
            batch_size=scenario.batch_size,
            workers=scenario.workers,
        )
        self.results[scenario.name] = result
        return result

    def _server_command(self, scenario: Scenario, port: int, http_port: int = 0) -> list[str]:
        listen = f"127.0.0.1:{port}"
        # The baselines default to the CPU scheduling policy a Sluice worker defaults to.
        if scenario.server == "transport":
            module = "benchmarks.baselines.transport_ceiling"
            return [PYTHON, "-m", module, "--listen", listen]
        if scenario.server == "native":
            if not NATIVE_TRANSPORT.exists():
                raise RuntimeError(f"{NATIVE_TRANSPORT} is missing: run make native-transport")
            return [str(NATIVE_TRANSPORT), "--listen", listen]
        if scenario.server == "floor":
            module = "benchmarks.baselines.floor"
            return [PYTHON, "-m", module, "--listen", listen, "--bootstrap", self.bootstrap,
                    "--processes", str(scenario.workers)]  # fmt: skip
        if scenario.server in ("sluice_behind_floor", "bare_behind_floor"):
            module = f"benchmarks.baselines.{scenario.server}"
            return [PYTHON, "-m", module, "--listen", listen, "--bootstrap", self.bootstrap]
        if scenario.server == "http_floor":
            module = "benchmarks.baselines.http_floor"
            listen = f"127.0.0.1:{http_port}"
            return [PYTHON, "-m", module, "--listen", listen, "--bootstrap", self.bootstrap]
        if scenario.server == "naive":
            module = "benchmarks.baselines.naive_server"
            return [PYTHON, "-m", module, "--listen", listen, "--bootstrap", self.bootstrap]
        config = {
            "server": {"listen": listen, **scenario.config.get("server", {})},
            "ops": {"listen": f"127.0.0.1:{free_port()}"},
            "kafka": {"bootstrap_servers": self.bootstrap},
            "logging": {"level": "WARNING"},
        }
        if http_port:
            config["http"] = {"enabled": True, "listen": f"127.0.0.1:{http_port}"}
        path = self.workdir / f"{scenario.name}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return [
            PYTHON,
            "-m",
            "sluice",
            "serve",
            "--config",
            str(path),
            "--workers",
            str(scenario.workers),
        ]

    def _run_served(self, scenario: Scenario) -> dict[str, Any]:
        port = free_port()
        target = f"127.0.0.1:{port}"
        server_cpus = self.server_cpus if scenario.pinned else None
        load_cpus = self.load_cpus if scenario.pinned else None
        server = Launched(
            self._server_command(scenario, port),
            self.workdir / f"{scenario.name}.server.log",
            server_cpus,
        )
        warmup_s = self.warmup_s if scenario.warmup_s is None else scenario.warmup_s
        duration_s = self.duration_s if scenario.duration_s is None else scenario.duration_s
        try:
            server.wait_grpc_ready(target)
            time.sleep(IDLE_SETTLE_S)
            idle_rss = server.rss()
            report_path = self.workdir / f"{scenario.name}.load.json"
            start_at = time.time() + START_DELAY_S + scenario.streams / CONNECTS_PER_S + warmup_s
            command = [
                PYTHON,
                "-m",
                "benchmarks.loadgen",
                "--target",
                target,
                "--workload",
                scenario.workload,
                "--batch-size",
                str(scenario.batch_size),
                "--processes",
                str(scenario.load.processes),
                "--streams",
                str(scenario.load.streams),
                "--window",
                str(scenario.load.window),
                "--duration",
                str(duration_s),
                "--warmup",
                str(warmup_s),
                "--start-at",
                repr(start_at),
                "--json",
                str(report_path),
            ]
            rate = self._rate(scenario)
            if rate is not None:
                command += ["--rate", repr(rate)]
            with (self.workdir / f"{scenario.name}.load.log").open("ab") as log:
                load = subprocess.Popen(pinned(command, load_cpus), stdout=log, stderr=log)
            try:
                time.sleep(max(0.0, start_at - time.time()))
                cpu_start = server.cpu_seconds()
                threads_start = server.thread_times()
                processes_start = server.cpu_by_process()
                # Read while the load still holds its connections open.
                connections = server.connections_by_process(port)
                time.sleep(max(0.0, start_at + duration_s - time.time()))
                cpu = server.cpu_seconds() - cpu_start
                processes = _spent(processes_start, server.cpu_by_process())
                busy_rss = server.rss()
                threads = split_by_kind(threads_start, server.thread_times(), cpu)
                load.wait(duration_s + 120)
            finally:
                if load.poll() is None:  # SIGTERM first: it stops its own processes
                    load.terminate()
                    try:
                        load.wait(STOP_TIMEOUT_S)
                    except subprocess.TimeoutExpired:
                        load.kill()
                        load.wait()
            report = json.loads(report_path.read_text(encoding="utf-8"))
            peak, peak_total = server.peak_rss()
        finally:
            server.stop()
        summary = _summary(report, cpu, threads, peak, peak_total, rate)
        if scenario.workers > 1:
            summary["processes"] = _by_process(server.pid, processes, connections, report)
        summary.update(
            streams=scenario.streams,
            idle_rss_mb=round(idle_rss / 2**20, 1),
            rss_mb=round(busy_rss / 2**20, 1),
            rss_per_stream_kb=round((busy_rss - idle_rss) / scenario.streams / 1024, 1),
        )
        return summary

    def _run_http(self, scenario: Scenario) -> dict[str, Any]:
        """``POST /v1/ingest`` from h2load (HTTP/1.1, one request in flight per connection)."""
        port, http_port = free_port(), free_port()
        server_cpus = self.server_cpus if scenario.pinned else None
        load_cpus = self.load_cpus if scenario.pinned else None
        server = Launched(
            self._server_command(scenario, port, http_port),
            self.workdir / f"{scenario.name}.server.log",
            server_cpus,
        )
        warmup_s = self.warmup_s if scenario.warmup_s is None else scenario.warmup_s
        duration_s = self.duration_s if scenario.duration_s is None else scenario.duration_s
        try:
            server.wait_tcp_ready(http_port)
            body = self.workdir / f"{scenario.name}.body.json"
            body.write_bytes(
                BatchFactory(WORKLOADS[scenario.workload]).json_body(scenario.batch_size)
            )
            requests_log = self.workdir / f"{scenario.name}.requests.tsv"
            connections = scenario.load.streams
            command = [
                H2LOAD, "--h1", "-c", str(connections), "-t", str(scenario.load.processes),
                "-D", f"{round(duration_s * 1000)}ms",
                "--warm-up-time", f"{round(warmup_s * 1000)}ms",
                "-d", str(body), "-H", "content-type: application/json",
                "--log-file", str(requests_log), f"http://127.0.0.1:{http_port}/v1/ingest",
            ]  # fmt: skip
            rate = self._rate(scenario)
            if rate is not None:
                command += ["--rps", f"{rate / scenario.batch_size / connections:.3f}"]
            started = time.time()
            with (self.workdir / f"{scenario.name}.load.log").open("ab") as log:
                load = subprocess.Popen(pinned(command, load_cpus), stdout=log, stderr=log)
            try:
                window_start = started + HTTP_CONNECT_S + warmup_s
                time.sleep(max(0.0, window_start - time.time()))
                cpu_start = server.cpu_seconds()
                threads_start = server.thread_times()
                time.sleep(max(0.0, window_start + duration_s - time.time()))
                cpu = server.cpu_seconds() - cpu_start
                threads = split_by_kind(threads_start, server.thread_times(), cpu)
                code = load.wait(duration_s + 120)
            finally:
                if load.poll() is None:
                    load.kill()
                    load.wait()
            if code != 0:
                raise RuntimeError(f"h2load failed with {code}: see {scenario.name}.load.log")
            peak, peak_total = server.peak_rss()
        finally:
            server.stop()
        report = http_report(requests_log, window_start, duration_s, scenario.batch_size)
        return _summary(report, cpu, threads, peak, peak_total, rate)

    def _rate(self, scenario: Scenario) -> float | None:
        if scenario.rate is not None:
            return scenario.rate
        if scenario.rate_of is None:
            return None
        return float(self.results[scenario.rate_of]["readings_per_s"]) * scenario.rate_share

    def _run_sink(self, scenario: Scenario) -> dict[str, Any]:
        report_path = self.workdir / f"{scenario.name}.sink.json"
        command = [
            PYTHON,
            "-m",
            "benchmarks.baselines.sink_ceiling",
            "--bootstrap",
            self.bootstrap,
            "--workload",
            scenario.workload,
            "--batch-size",
            str(scenario.batch_size),
            "--duration",
            str(self.duration_s),
            "--warmup",
            str(self.warmup_s),
            "--json",
            str(report_path),
        ]
        sink = Launched(command, self.workdir / f"{scenario.name}.sink.log", self.server_cpus)
        code = sink.process.wait(self.duration_s + self.warmup_s + 120)
        if code != 0:
            raise RuntimeError(f"the sink ceiling failed: {sink.tail()}")
        report = json.loads(report_path.read_text(encoding="utf-8"))
        return {
            "readings_per_s": round(report["readings_per_s"], 1),
            "batches_per_s": round(report["batches_per_s"], 1),
            "cpu_s": round(report["cpu_s"], 3),
            **_per_cpu(report["readings"], report["cpu_s"]),
            "peak_rss_mb": round(report["peak_rss_bytes"] / 2**20, 1),
        }


def _spent(start: dict[int, float], end: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process used between two snapshots (0 for one that is gone)."""
    return {pid: end[pid] - start.get(pid, 0.0) for pid in end}


def _by_process(
    supervisor: int,
    cpu: dict[int, float],
    connections: dict[int, int],
    report: dict[str, Any],
) -> dict[str, Any]:
    """Where a multi-worker server spent its CPU (per million readings), and how
    SO_REUSEPORT spread the load's connections over the workers."""
    readings = report["readings"] or 1
    workers = sorted(pid for pid in cpu if pid != supervisor)
    return {
        "supervisor_cpu_s_per_million": round(cpu.get(supervisor, 0.0) / readings * 1e6, 3),
        "workers_cpu_s_per_million": [round(cpu[pid] / readings * 1e6, 3) for pid in workers],
        "connections_per_worker": [connections.get(pid, 0) for pid in workers],
    }


def http_report(
    requests_log: Path, window_start: float, duration_s: float, readings_per_request: int
) -> dict[str, Any]:
    """What h2load's per-request log says of the measured window, in the load generator's
    report form: the answered requests (200) are the batches."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    begin_us, end_us = window_start * 1e6, (window_start + duration_s) * 1e6
    for line in requests_log.read_text(encoding="utf-8").splitlines():
        start_us, status, took_us = (float(field) for field in line.split("\t")[:3])
        if not begin_us <= start_us + took_us < end_us:
            continue
        statuses[f"HTTP {int(status)}"] += 1
        if int(status) == HTTP_OK:
            latencies.append(took_us / 1e6)
    latencies.sort()
    batches = statuses[f"HTTP {HTTP_OK}"]
    errors = [f"{count} requests answered {name}" for name, count in statuses.items()
              if name != f"HTTP {HTTP_OK}"]  # fmt: skip
    return {
        "readings": batches * readings_per_request,
        "readings_per_s": round(batches * readings_per_request / duration_s, 1),
        "batches_per_s": round(batches / duration_s, 1),
        "statuses": dict(statuses),
        "errors": errors,
        "latency_ms": {
            name: round(percentile(latencies, share) * 1000, 3)
            for name, share in (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999))
        },
    }


def _per_cpu(readings: float, cpu_s: float) -> dict[str, float]:
    if not readings or not cpu_s:
        return {"cpu_s_per_million": 0.0, "readings_per_cpu_s": 0.0}
    return {
        "cpu_s_per_million": round(cpu_s / readings * 1e6, 3),
        "readings_per_cpu_s": round(readings / cpu_s, 1),
    }


def _summary(
    report: dict[str, Any],
    cpu: float,
    threads: dict[str, float],
    peak: int,
    peak_total: int,
    rate: float | None,
) -> dict[str, Any]:
    readings = report["readings"]
    return {
        "readings_per_s": report["readings_per_s"],
        "batches_per_s": report["batches_per_s"],
        "cpu_s": round(cpu, 3),
        **_per_cpu(readings, cpu),
        "cpu_s_per_million_by_thread": {
            kind: round(seconds / readings * 1e6, 3) if readings else 0.0
            for kind, seconds in threads.items()
        },
        "latency_ms": report["latency_ms"],
        "peak_rss_mb": round(peak / 2**20, 1),
        "peak_rss_total_mb": round(peak_total / 2**20, 1),
        "statuses": report["statuses"],
        "errors": report["errors"][:5],
        "error_count": len(report["errors"]),
        "rate": round(rate, 1) if rate is not None else None,
    }
