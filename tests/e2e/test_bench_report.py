"""How a benchmark run is reported: same-run ratios, targets, and the Markdown table."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import report
from benchmarks.procs import thread_kind

pytestmark = pytest.mark.e2e


def scenario(readings_per_s: float, per_cpu: float, **extra: Any) -> dict[str, Any]:
    return {
        "title": extra.pop("title", "a scenario"),
        "readings_per_s": readings_per_s,
        "batches_per_s": readings_per_s / 100,
        "cpu_s_per_million": 1e6 / per_cpu,
        "readings_per_cpu_s": per_cpu,
        "latency_ms": {"p50": 1.0, "p99": 20.0, "p99.9": 30.0, "max": 31.0},
        "peak_rss_mb": 150.0,
        **extra,
    }


RESULTS = {
    "a_plain": scenario(300_000, 600_000),
    "c_plain": scenario(800_000, 1_000_000),
    "d_plain": scenario(1_200_000, 3_000_000),
    "e_plain": scenario(100_000, 100_000),
    "latency_50": scenario(150_000, 500_000),
    "b_plain_1": scenario(5_000, 6_000, peak_rss_mb=250.0),
}


def test_ratios_divide_the_figures_of_the_same_run() -> None:
    ratios = report.ratios(RESULTS)
    assert ratios["a/c plain"]["ratio"] == 0.6
    assert ratios["a/e plain"]["ratio"] == 6.0
    assert ratios["a/d plain"]["ratio"] == 0.25
    assert "a/c rich" not in ratios  # neither rich scenario ran


def test_each_target_says_whether_it_holds() -> None:
    verdicts = {t["target"]: t for t in report.targets(RESULTS, report.ratios(RESULTS))}
    assert verdicts["(a) plain, readings per server CPU-second"]["holds"] is False
    assert verdicts["(a)/(c) plain, against the transport ceiling"]["holds"] is True
    assert verdicts["(a)/(e) plain, against the naive baseline"]["holds"] is True
    assert verdicts["p99 Ack latency at 50% load (ms)"]["holds"] is True
    rss = verdicts["RSS per worker at the peak (MB)"]
    assert (rss["measured"], rss["holds"]) == (250.0, False)
    rich = verdicts["(a) rich, readings per server CPU-second"]
    assert (rich["measured"], rich["holds"]) == (None, None)


def test_the_workers_target_is_judged_on_the_pairs_ratio() -> None:
    workers = "--workers 2 against 1 worker at a held rate, CPU per reading"
    ratios = report.ratios(RESULTS)
    unpaired = {t["target"]: t for t in report.targets(RESULTS, ratios)}
    assert (unpaired[workers]["measured"], unpaired[workers]["holds"]) == (None, None)
    for ratio, holds in ((1.04, True), (1.24, False)):
        verdicts = {t["target"]: t for t in report.targets(RESULTS, ratios, {"ratio": ratio})}
        assert (verdicts[workers]["measured"], verdicts[workers]["holds"]) == (ratio, holds)


def test_the_table_has_a_row_per_scenario_ratio_and_target() -> None:
    ratios = report.ratios(RESULTS)
    data = {
        "scenarios": {name: {**result, "title": name} for name, result in RESULTS.items()},
        "ratios": ratios,
        "targets": report.targets(RESULTS, ratios),
        "transforms": {"transform_cost_ns": {"unit_conversion": 750.4}},
        "machine": report.machine(),
    }
    table = report.markdown(data)
    for name in RESULTS:
        assert f"| {name} |" in table
    assert "| a/c plain, against the transport ceiling | 0.60 | readings_per_cpu_s |" in table
    assert "| (a) rich, readings per server CPU-second | >= 700000 | – | not run |" in table
    assert "| unit conversion | 750 |" in table
    assert "Machine: " in table


def test_rounds_report_each_scenarios_median_round_whole_and_the_median_ratio() -> None:
    rounds = [
        {"a_plain": scenario(300_000, 600_000), "c_plain": scenario(800_000, 1_000_000)},
        {"a_plain": scenario(250_000, 500_000, peak_rss_mb=99.0),
         "c_plain": scenario(700_000, 1_250_000)},
        {"a_plain": scenario(350_000, 700_000), "c_plain": scenario(900_000, 875_000)},
    ]  # fmt: skip
    results, ratios = report.combine(rounds)

    median = results["a_plain"]
    assert (median["readings_per_cpu_s"], median["readings_per_s"]) == (600_000, 300_000)
    assert median["range"]["readings_per_cpu_s"] == [500_000, 700_000]
    assert median["rounds"] == 3
    # Per round: 0.6, 0.4 and 0.8.
    assert ratios["a/c plain"]["ratio"] == 0.6
    assert ratios["a/c plain"]["range"] == [0.4, 0.8]

    data = {
        "scenarios": results,
        "ratios": ratios,
        "targets": report.targets(results, ratios),
        "machine": report.machine(),
    }
    table = report.markdown(data)
    assert "| 600,000 (500,000–700,000) |" in table
    assert "| a/c plain, against the transport ceiling | 0.60 (0.40–0.80) |" in table


def test_a_ratio_is_the_median_of_its_rounds_not_of_the_medians() -> None:
    rounds = [
        {"a_plain": scenario(1, 100_000), "c_plain": scenario(1, 300_000)},
        {"a_plain": scenario(1, 200_000), "c_plain": scenario(1, 100_000)},
        {"a_plain": scenario(1, 300_000), "c_plain": scenario(1, 200_000)},
    ]
    results, ratios = report.combine(rounds)
    # The scenarios' medians divide to 1.0; the rounds' own ratios are 0.33, 2.0 and 1.5.
    assert results["a_plain"]["readings_per_cpu_s"] == results["c_plain"]["readings_per_cpu_s"]
    assert ratios["a/c plain"]["ratio"] == 1.5
    assert ratios["a/c plain"]["range"] == [0.333, 2.0]


def test_the_cpu_split_by_thread_gets_a_row_per_served_scenario() -> None:
    split = {"main": 0.68, "python": 0.05, "grpc": 0.12, "librdkafka": 0.15, "other": 0.0}
    split["ended"] = 0.02
    results = {
        "a_plain": scenario(300_000, 1_000_000, cpu_s_per_million_by_thread=split),
        "d_plain": scenario(1_200_000, 3_000_000),  # the sink ceiling is not a server
    }
    data = {
        "scenarios": results,
        "ratios": {},
        "targets": report.targets(results, {}),
        "machine": report.machine(),
    }
    table = report.markdown(data)
    assert "| a scenario | 0.68 | 0.05 | 0.12 | 0.15 | 0.00 | 0.02 | 1.00 |" in table
    assert table.count("| a scenario | ") == 3  # two rows of the main table, one split row


@pytest.mark.parametrize(
    ("name", "is_main", "kind"),
    [
        ("python", True, "main"),
        ("python", False, "python"),
        ("event_engine", False, "grpc"),
        ("grpc_global_tim", False, "grpc"),
        ("nexting_thread", False, "grpc"),  # grpc C++'s callback API
        ("default-executo", False, "grpc"),
        ("rdk:broker1", False, "librdkafka"),
        ("rdk:main", False, "librdkafka"),
        ("lifeguard", False, "other"),
    ],
)
def test_threads_are_told_apart_by_their_os_name(name: str, is_main: bool, kind: str) -> None:
    assert thread_kind(name, "python", is_main) == kind
