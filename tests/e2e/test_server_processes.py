"""Whole processes: drain on SIGTERM, a supervisor with two workers, and ``sluice dev``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
import yaml

from sluice.v1.ingest_pb2 import Ack, AckStatus, ReadingBatch
from sluice.v1.ingest_pb2_grpc import IngestStub
from tests.support.brokers import consume_records
from tests.support.ingest import batch, reading, stream
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.e2e


def kafka_config(bootstrap: str, topic: str) -> dict[str, Any]:
    return {"kafka": {"bootstrap_servers": bootstrap, "topic": topic, "dlq_topic": topic + "-dlq"}}


def stream_until_ended(
    target: str, session: str, sent: list[int], acks: list[Ack], on_ack: Any
) -> grpc.RpcError | None:
    """Send a batch every 5 ms until the server ends the stream; collect the Acks, calling
    ``on_ack`` after each.

    The sync API, because grpc.aio's client reports INTERNAL ("Failed execute_batch") instead
    of the server's status when a write races the server's end (grpc/grpc#36066).
    """

    def requests() -> Any:
        for seq in range(1, 100_000):
            sent.append(seq)
            yield batch([reading("drain-1", value=float(seq))], seq=seq, session_id=session)
            time.sleep(0.005)

    with grpc.insecure_channel(target) as channel:
        try:
            for ack in IngestStub(channel).Stream(requests()):
                acks.append(ack)
                on_ack()
        except grpc.RpcError as error:
            return error
    return None


def test_sigterm_drains_every_stream(tansu: Any, tmp_path: Path) -> None:
    topic = f"drain-{uuid.uuid4().hex[:8]}"
    session = str(uuid.uuid4())
    sent: list[int] = []
    acks: list[Ack] = []
    srv = SluiceServer(kafka_config(tansu.bootstrap, topic), tmp_path).start()
    try:

        def signal_at_50() -> None:
            if len(acks) == 50:
                srv.send_signal(signal.SIGTERM)

        error = stream_until_ended(srv.target, session, sent, acks, signal_at_50)
        assert srv.process is not None
        assert srv.process.wait(30) == 0, srv.logs()
    finally:
        srv.kill()
    assert error is not None, "the stream must end with a status"
    assert error.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert error.details() == "draining"  # type: ignore[attr-defined]
    acked = sorted(ack.seq for ack in acks)
    assert all(ack.status == AckStatus.ACK_STATUS_OK for ack in acks)
    assert acked == list(range(1, len(acked) + 1)), "every batch read before the drain is acked"
    records = consume_records(tansu.bootstrap, topic, min_records=len(acked), settle_s=1.0)
    produced = sorted(ReadingBatch.FromString(r.value()).seq for r in records)
    assert produced == acked, "acknowledged batches lost or produced twice"


def test_two_workers_share_the_port_and_the_metrics(tansu: Any, tmp_path: Path) -> None:
    topic = f"workers-{uuid.uuid4().hex[:8]}"
    srv = SluiceServer(kafka_config(tansu.bootstrap, topic), tmp_path, workers=2).start()
    channels = []
    try:
        assert srv.process is not None
        workers = psutil.Process(srv.process.pid).children()
        assert len(workers) == 2
        # Connections are spread by the kernel (SO_REUSEPORT): with 16 of them, both workers
        # hold some unless something is wrong (chance 2**-15).
        for _ in range(16):
            channel = grpc.insecure_channel(
                srv.target, options=[("grpc.use_local_subchannel_pool", 1)]
            )
            IngestStub(channel).Push(batch([reading("w-1")], seq=1), timeout=30)
            channels.append(channel)
        held = [
            sum(
                1
                for c in worker.net_connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == srv.grpc_port
            )
            for worker in workers
        ]
        assert all(count > 0 for count in held), f"connections per worker: {held}"

        acks = []
        for n in range(4):
            acks += stream(srv.target, [batch([reading(f"w-{n}")] * 25, seq=s) for s in range(10)])
        assert all(a.status == AckStatus.ACK_STATUS_OK for a in acks)
        text = srv.metrics_text()
        accepted = float(re.search(r"^sluice_readings_accepted_total (\S+)$", text, re.M)[1])
        assert accepted == 16 + 4 * 10 * 25
        assert "sluice_active_streams" in text
        # Each worker runs a full collection once started (sluice/runtime/collector.py).
        full = re.search(r'^sluice_gc_pause_seconds_count\{generation="2"\} (\S+)$', text, re.M)
        assert full is not None
        assert float(full[1]) >= 2, "each worker's pauses, summed"

        for channel in channels:
            channel.close()
        assert srv.stop() == 0, srv.logs()
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    finally:
        for channel in channels:
            channel.close()
        srv.kill()


def test_sluice_dev_shows_throughput_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    config = tmp_path / "dev.yaml"
    config.write_text(
        yaml.safe_dump({"server": {"listen": "127.0.0.1:0"}, "ops": {"listen": "127.0.0.1:0"}})
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sluice",
            "dev",
            "--config",
            str(config),
            "--devices",
            "20",
            "--rate",
            "2000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "readings/s acked" in line and not line.strip().startswith("0.0"):
                rate = float(line.split()[1].replace(",", ""))
                if rate > 0:
                    break
        else:
            pytest.fail("no throughput line:\n" + "".join(lines))
        started = psutil.Process(process.pid).children(recursive=True)
        assert started, "sluice dev runs its broker as a child process"
        # As a terminal's Ctrl-C does: the whole foreground process group gets SIGINT.
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, "".join(lines) + output
        assert "summary:" in output
        assert "circuit breaker open" not in output, "the broker went away before the drain"
        _, alive = psutil.wait_procs(started, timeout=10)
        assert alive == [], f"left running: {alive}"
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
