"""The whole path in processes: ``sluice serve`` → Tansu → ``sluice rollup`` → ``sluice query``,
and ``sluice dev`` showing the simulated fleet's hourly figures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.core.netutil import free_port
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker
from sluice.runtime.dev_rollup import TANSU_CONSUMER
from sluice.v1.ingest_pb2 import AckStatus, Reading
from tests.support.ingest import batch, stream
from tests.support.rollup import reference
from tests.support.servers import SluiceServer
from tests.support.services import SluiceCommand, http_get

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WAIT_S = 45.0


def get_json(url: str) -> Any:
    status, body = http_get(url)
    assert status == 200, (url, status, body)
    return json.loads(body)


def test_readings_sent_to_the_server_come_back_as_hourly_figures(
    tansu: TansuBroker, tmp_path: Path
) -> None:
    topic, dlq = f"readings-{uuid.uuid4().hex[:8]}", f"dlq-{uuid.uuid4().hex[:8]}"
    create_topics(tansu.bootstrap, [topic, dlq])
    kafka = {"bootstrap_servers": tansu.bootstrap, "topic": topic, "dlq_topic": dlq}
    store = {"sqlite_path": str(tmp_path / "rollup.db")}
    ops, listen = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    rollup_config = {
        "kafka": kafka,
        "rollup": {"ops_listen": ops, "client": TANSU_CONSUMER, "store": store},
        "logging": {"format": "text"},
    }
    query_ops = f"127.0.0.1:{free_port()}"
    query_config = {
        "query": {"listen": listen, "ops_listen": query_ops},
        "rollup": {"store": store},
    }
    hour_ns = time.time_ns() // 3_600_000_000_000 * 3_600_000_000_000
    sent = [
        Reading(device_id=f"dev/{n % 4}", metric=metric, value=float(n), time_unix_nano=at)
        for n in range(120)
        for metric, at in [
            ("temperature", hour_ns + n),
            ("humidity", hour_ns - 3_600_000_000_000 + n),
        ]
    ]

    with (
        SluiceServer({"kafka": kafka}, tmp_path) as server,
        SluiceCommand("rollup", rollup_config, tmp_path, f"http://{ops}/readyz") as rollup,
        SluiceCommand("query", query_config, tmp_path, f"http://{query_ops}/readyz") as query,
    ):
        batches = [batch(sent[i : i + 30], seq=i // 30 + 1) for i in range(0, len(sent), 30)]
        acks = stream(server.target, batches)
        assert [ack.status for ack in acks] == [AckStatus.ACK_STATUS_OK] * len(batches)

        expected = reference([("default", sent)])
        deadline = time.monotonic() + WAIT_S
        while True:
            hours = {
                (device, metric): get_json(
                    f"http://{listen}/v1/devices/{urllib.parse.quote(device, safe='')}"
                    f"/metrics/{metric}/hourly"
                )["items"]
                for _, device, metric, _ in expected
            }
            counted = sum(item["count"] for items in hours.values() for item in items)
            if counted == len(sent):
                break
            assert time.monotonic() < deadline, f"{counted} of {len(sent)} readings rolled up"
            time.sleep(0.2)

        for (_, device, metric, hour_s), figures in expected.items():
            [item] = [i for i in hours[(device, metric)] if _unix(i["hour"]) == hour_s]
            assert item["count"] == figures.count
            assert item["mean"] == pytest.approx(figures.total / figures.count)
            assert (item["min"], item["max"]) == (figures.minimum, figures.maximum)
        status, body = http_get(f"http://{query_ops}/metrics")
        exposition = body.decode()
        assert status == 200
        template = "/v1/devices/{device_id:path}/metrics/{metric}/hourly"
        answered = re.search(
            rf'^sluice_query_http_requests_total\{{handler="{re.escape(template)}",'
            rf'method="GET",status="200"\}} (\d+)',
            exposition,
            re.MULTILINE,
        )
        assert answered is not None, exposition
        assert int(answered.group(1)) >= len(expected)
        ready = r'^sluice_ready\{component="query"\} 1\.0$'
        assert re.search(ready, exposition, re.MULTILINE), exposition
        assert rollup.stop() == 0, rollup.logs()
        assert query.stop() == 0, query.logs()


def _unix(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


def test_sluice_dev_serves_the_fleets_hourly_figures(tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "dev.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"listen": "127.0.0.1:0"},
                "ops": {"listen": "127.0.0.1:0"},
                "query": {"listen": listen},
            }
        )
    )
    command = [sys.executable, "-m", "sluice", "dev", "--config", str(config)]
    command += ["--devices", "10", "--rate", "1000", "--duration", "5"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        fleet: list[dict[str, Any]] = []
        while not fleet and process.poll() is None and time.monotonic() < deadline:
            status, body = http_get(f"http://{listen}/v1/metrics/temperature/hourly?top=3")
            if status == 200:
                fleet = [hour for hour in json.loads(body)["items"] if hour["count"]]
            time.sleep(0.2)
        output, _ = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)

    assert process.returncode == 0, output
    assert fleet, "the query API never showed an hour with readings"
    assert fleet[-1]["devices"] == 10
    assert len(fleet[-1]["top"]) == 3
    summary = re.search(r"accepted ([\d,]+), rejected", output)
    assert summary is not None, output
    accepted = int(summary.group(1).replace(",", ""))
    rolled_up = sum(
        int(count.replace(",", "")) for count in re.findall(r"readings\s+([\d,]+)\s+mean", output)
    )
    assert rolled_up == accepted > 0, output
