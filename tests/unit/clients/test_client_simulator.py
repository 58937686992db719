"""The device simulator: plausible values and units, invalid readings, Fleet and main()."""

import asyncio
import itertools
import math
import random
import re
import signal
import socket
import sys

import pytest
from scripted_ingest import ScriptedIngest

from sluice.v1.ingest_pb2 import Reading
from sluice_client import simulator
from sluice_client.devices import METRICS, UNITS, ReadingFactory, make_devices
from sluice_client.fleet import MAX_DEVICES, Fleet
from tests.support.usage import usage_error

DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]*")
TO_CANONICAL = {
    "°C": lambda v: v,
    "°F": lambda v: (v - 32.0) * 5.0 / 9.0,
    "K": lambda v: v - 273.15,
    "%": lambda v: v,
    "fraction": lambda v: v * 100.0,
    "Pa": lambda v: v,
    "hPa": lambda v: v * 100.0,
    "kPa": lambda v: v * 1000.0,
    "bar": lambda v: v * 100_000.0,
}
"""Independent conversions to °C, % and Pa, to check what the simulator sends."""
PLAUSIBLE = {"temperature": (-40.0, 60.0), "humidity": (0.0, 100.0), "pressure": (9e4, 1.1e5)}
SUBPROCESS_TIMEOUT_S = 30.0


def is_invalid(reading: Reading) -> bool:
    return (
        not math.isfinite(reading.value)
        or DEVICE_ID.fullmatch(reading.device_id) is None
        or (reading.HasField("location") and not -90 <= reading.location.lat <= 90)
    )


def test_readings_have_plausible_values_in_a_mix_of_units() -> None:
    factory = ReadingFactory(make_devices(60, random.Random(7)), random.Random(8))
    readings = factory.make(60 * 90, now_ns=1)
    units_seen: dict[str, set[str]] = {metric: set() for metric in METRICS}
    for r in readings:
        assert r.unit in UNITS[r.metric]
        units_seen[r.metric].add(r.unit)
        low, high = PLAUSIBLE[r.metric]
        assert low <= TO_CANONICAL[r.unit](r.value) <= high, r
        assert 2 <= len(r.tags) <= 3
        assert {"model", "firmware"} <= set(r.tags) <= {"model", "firmware", "zone"}
        assert DEVICE_ID.fullmatch(r.device_id)
        assert r.time_unix_nano == 1
        if r.HasField("location"):
            assert -90 <= r.location.lat <= 90
            assert -180 <= r.location.lon <= 180
    assert units_seen == {metric: set(UNITS[metric]) for metric in METRICS}
    assert {metric: sum(r.metric == metric for r in readings) for metric in METRICS} == {
        metric: 60 * 30 for metric in METRICS
    }
    located = {r.device_id for r in readings if r.HasField("location")}
    assert 0 < len(located) < 60


def test_a_device_keeps_its_location_and_its_temperature_walks() -> None:
    factory = ReadingFactory(make_devices(1, random.Random(1)), random.Random(2))
    readings = [r for r in factory.make(300) if r.metric == "temperature"]
    celsius = [TO_CANONICAL[r.unit](r.value) for r in readings]
    steps = [abs(b - a) for a, b in itertools.pairwise(celsius)]
    assert 0 < max(steps) < 1.0
    assert len({r.location.SerializeToString() for r in readings}) == 1


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_the_invalid_fraction_is_honoured(fraction: float) -> None:
    factory = ReadingFactory(make_devices(30, random.Random(3)), random.Random(4), fraction)
    readings = factory.make(20_000)
    invalid = sum(is_invalid(r) for r in readings)
    assert invalid == factory.invalid_made
    assert abs(invalid / len(readings) - fraction) < 0.02


def test_every_kind_of_invalid_reading_is_made() -> None:
    factory = ReadingFactory(make_devices(5, random.Random(5)), random.Random(6), 1.0)
    readings = factory.make(300)
    assert any(math.isnan(r.value) for r in readings)
    assert any(DEVICE_ID.fullmatch(r.device_id) is None for r in readings)
    assert any(r.location.lat > 90 for r in readings)


async def test_a_fleet_streams_over_several_streams_and_counts_acks(
    double: ScriptedIngest, target: str
) -> None:
    rate = 2000.0
    fleet = Fleet(target, devices=10, rate=rate, streams=2, batch_size=50, seed=1)
    stats = await fleet.run(0.5)
    assert stats.readings_generated > 0
    assert stats.readings_accepted == stats.readings_generated == sum(double.batch_sizes())
    assert stats.unacknowledged_batches == 0
    assert {r.batch.source_id for r in double.received} == {"sluice-sim-0", "sluice-sim-1"}
    assert len({r.batch.session_id for r in double.received}) == 2
    # Pacing never runs ahead of the schedule (by more than one batch per stream).
    assert stats.readings_generated <= rate * stats.elapsed_s + 2 * 50


async def test_fleet_stats_can_be_polled_while_it_runs(double: ScriptedIngest, target: str) -> None:
    stop = asyncio.Event()
    fleet = Fleet(target, devices=5, rate=1000.0, batch_size=10)
    run = asyncio.create_task(fleet.run(stop))
    await double.wait_for(lambda: len(double.received) >= 3)
    while_running = fleet.stats
    stop.set()
    final = await run
    assert 0 < while_running.readings_accepted <= final.readings_accepted
    assert final.readings_accepted == sum(double.batch_sizes())


async def test_main_streams_prints_progress_and_a_summary(
    double: ScriptedIngest, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--target", target, "--duration", "1.2", "--rate", "3000", "--devices", "20",
        "--streams", "2", "--batch-size", "100", "--invalid-fraction", "0.1",
        "--source-id", "sim-test", "--seed", "9",
    ]  # fmt: skip
    assert await asyncio.to_thread(simulator.main, argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"[\d,]+ readings/s acked", out)
    summary = re.search(r"summary: .* accepted ([\d,]+)", out)
    assert summary is not None
    assert int(summary.group(1).replace(",", "")) == sum(double.batch_sizes()) > 0
    assert {r.batch.source_id for r in double.received} == {"sim-test-0", "sim-test-1"}
    readings = [reading for r in double.received for reading in r.batch.readings]
    assert any(is_invalid(reading) for reading in readings)


def test_main_fails_clearly_when_the_server_cannot_be_reached(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["--target", f"127.0.0.1:{port}", "--connect-timeout", "0.3", "--duration", "1"]
    assert simulator.main(argv) == 1
    assert f"cannot reach 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--devices", "0"], "--devices"),
        (["--devices", f"{MAX_DEVICES + 1}"], "--devices"),
        (["--devices", "1" + "0" * 23], "--devices"),
        (["--devices", "many"], "--devices"),
        (["--streams", "3", "--devices", "2"], "--streams"),
        (["--invalid-fraction", "2"], "--invalid-fraction"),
        (["--rate", "-1"], "--rate"),
        (["--rate", "nan"], "--rate"),
        (["--rate", "inf"], "--rate"),
        (["--duration", "0"], "--duration"),
        (["--duration", "nan"], "--duration"),
        (["--connect-timeout", "nan"], "--connect-timeout"),
        (["--connect-timeout", "-1"], "--connect-timeout"),
    ],
)
def test_main_rejects_bad_arguments_at_once_naming_the_flag(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused before any device is built: a fleet too large used to be built for minutes.
    assert named in usage_error(simulator.main, [*argv, "--target", "127.0.0.1:1"], capsys)


def test_a_fleet_larger_than_the_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="devices"):
        Fleet("127.0.0.1:1", devices=MAX_DEVICES + 1)
    with pytest.raises(ValueError, match="rate"):
        Fleet("127.0.0.1:1", devices=1, rate=math.inf)


async def test_ctrl_c_stops_the_simulator_with_a_summary(
    double: ScriptedIngest, target: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sluice_client.simulator", "--target", target, "--rate", "500",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first_line = await asyncio.wait_for(process.stdout.readline(), SUBPROCESS_TIMEOUT_S)
        assert b"readings/s acked" in first_line
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), SUBPROCESS_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert b"summary:" in out
    assert b"Traceback" not in err
