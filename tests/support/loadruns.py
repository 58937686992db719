"""A short run of the benchmark's load generator against a baseline server."""

from __future__ import annotations

from benchmarks.loadgen import LoadConfig, LoadReport, run_load


def drive_briefly(target: str) -> LoadReport:
    """One second of plain 100-reading batches on two streams; every batch must be answered."""
    config = LoadConfig(
        target=target,
        workload="plain",
        batch_size=100,
        processes=1,
        streams=2,
        window=8,
        duration_s=1.0,
        warmup_s=0.0,
    )
    report = run_load(config)
    assert report.errors == []
    assert report.sent_batches > 0
    assert report.acked_batches == report.sent_batches
    return report
