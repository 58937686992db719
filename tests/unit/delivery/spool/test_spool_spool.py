"""The spool as the sink sees it: appends made durable per ``spool.fsync``, a size cap that
refuses rather than loses, gauges, and acknowledged records that outlive ``kill -9``."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from spool_helpers import fresh_metrics, record, sample, spool_config, values

from sluice.core import reasons
from sluice.core.config.spool import SpoolConfig
from sluice.core.errors import Unavailable
from sluice.delivery.spool.frames import encode
from sluice.delivery.spool.segments import SegmentLog, segment_ids
from sluice.delivery.spool.spool import Spool
from sluice.ops.metrics import Metrics


async def opened(config: SpoolConfig) -> Spool:
    spool = Spool(config, fresh_metrics(), retry_after_ms=1234)
    await spool.start()
    return spool


def read_all(spool: Spool) -> list[bytes]:
    entries, _ = spool.read(spool.first(), 10_000)
    return values([e.record for e in entries])


@pytest.mark.parametrize("fsync", ["batch", "interval", "never"])
async def test_an_append_is_durable_once_its_future_resolves(tmp_path: Path, fsync: str) -> None:
    spool = await opened(spool_config(tmp_path, fsync=fsync, fsync_interval_ms=50))
    durable = [spool.append([record(n), record(n + 100)]) for n in range(20)]

    await asyncio.wait_for(asyncio.gather(*durable), 5)

    assert read_all(spool) == values([r for n in range(20) for r in (record(n), record(n + 100))])
    await spool.close()


async def test_a_full_spool_refuses_appends_and_takes_them_again_once_space_is_freed(
    tmp_path: Path,
) -> None:
    frame = len(encode(record(0)))
    metrics = fresh_metrics()
    spool = Spool(spool_config(tmp_path, max_bytes=8192, segment_bytes=4096), metrics, 1234)
    await spool.start()
    taken = 0
    while not spool.full and taken < 1000:
        try:
            spool.append([record(taken)])
        except Unavailable as refusal:
            refused = refusal
        else:
            taken += 1

    assert (refused.reason, refused.retry_after_ms) == (reasons.KAFKA_UNAVAILABLE, 1234)
    assert "full" in refused.message
    assert 8192 - 2 * frame < sample(metrics, "sluice_spool_bytes") <= 8192  # type: ignore[operator]
    assert read_all(spool) == values([record(n) for n in range(taken)])

    entries, _ = spool.read(spool.first(), taken)
    spool.release_before(entries[-1].end)

    assert not spool.full
    assert sample(metrics, "sluice_spool_bytes") < 8192  # type: ignore[operator]
    spool.append([record(taken)])
    await spool.close()


def held(metrics: Metrics) -> tuple[float | None, float | None]:
    return sample(metrics, "sluice_spool_bytes"), sample(metrics, "sluice_spool_segments")


async def test_gauges_follow_what_the_spool_holds(tmp_path: Path) -> None:
    metrics = fresh_metrics()
    spool = Spool(spool_config(tmp_path), metrics, 1000)
    await spool.start()
    assert held(metrics) == (0, 0)
    assert sample(metrics, "sluice_spool_max_bytes") == 1 << 20

    for n in range(100):
        spool.append([record(n, readings=3)])

    assert sample(metrics, "sluice_spool_bytes") == sum(
        p.stat().st_size for p in spool_config(tmp_path).dir.glob("worker-0/*.seg")
    )
    assert sample(metrics, "sluice_spool_segments") == len(segment_ids(tmp_path / "worker-0"))
    assert sample(metrics, "sluice_spooled_readings_total") == 300
    spool.clear()
    assert held(metrics) == (0, 0)
    await spool.close()


async def test_damage_found_at_start_is_counted(tmp_path: Path) -> None:
    spool = await opened(spool_config(tmp_path))
    for n in range(10):
        spool.append([record(n)])
    await spool.close()
    (segment,) = (tmp_path / "worker-0").glob("*.seg")
    segment.write_bytes(segment.read_bytes()[:-5])

    metrics = fresh_metrics()
    again = Spool(spool_config(tmp_path), metrics, 1000)
    recovery = await again.start()

    assert recovery.damaged == 1
    assert sample(metrics, "sluice_spool_corrupt_records_total") == 1
    assert read_all(again) == values([record(n) for n in range(9)])
    await again.close()


KILLED_AFTER_ACK = f"""
import asyncio, sys
sys.path[:0] = {sys.path!r}
from pathlib import Path
from prometheus_client import CollectorRegistry
from sluice.ops.metrics import Metrics
from sluice.delivery.spool.spool import Spool
from spool_helpers import record, spool_config

async def main() -> None:
    config = spool_config(Path(sys.argv[1]), fsync=sys.argv[2])
    spool = Spool(config, Metrics(CollectorRegistry()), 1)
    await spool.start()
    for n in range(200):
        await spool.append([record(n)])
        print(n, flush=True)  # acknowledged
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize("fsync", ["batch", "never"])
def test_every_acknowledged_append_outlives_kill_9(tmp_path: Path, fsync: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_AFTER_ACK, str(tmp_path), fsync],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent,
    )
    assert child.stdout is not None
    acknowledged = -1
    try:
        while acknowledged < 120:
            acknowledged = int(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)

    log = SegmentLog(tmp_path / "worker-0", 4096)
    log.open()
    entries, _, _ = log.read(log.first(), 10_000)
    survivors = values([e.record for e in entries])

    assert survivors[: acknowledged + 1] == values([record(n) for n in range(acknowledged + 1)])
