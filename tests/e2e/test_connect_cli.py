"""``sluice connect`` end to end: a JSON API the test serves (with 5xx bursts and schema drift),
a real Sluice server and broker, and restarts that resume from the checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yaml

from sluice.v1.ingest_pb2 import ReadingBatch
from tests.support.brokers import consume_records
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 60.0
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


class JsonSource:
    """A weather-like JSON API on 127.0.0.1: ``?since=`` is inclusive, as many APIs are;
    ``fail_next`` requests are answered 503 first; with ``page_size``, an answer holds that
    many items and names the next page by a relative URL in ``next``."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.fail_next = 0
        self.page_size: int | None = None
        self.queries: list[dict[str, list[str]]] = []
        self._lock = threading.Lock()
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = source.answer(parse_qs(urlsplit(self.path).query))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/observations"

    def answer(self, query: dict[str, list[str]]) -> tuple[int, bytes]:
        with self._lock:
            self.queries.append(query)
            if self.fail_next:
                self.fail_next -= 1
                return 503, b'{"error": "overloaded"}'
            since = query.get("since", [""])[0]
            items = [item for item in self.items if item["observed_at"] >= since]
        answer: dict[str, Any] = {"observations": items}
        if self.page_size is not None:
            offset = int(query.get("offset", ["0"])[0])
            end = offset + self.page_size
            answer["observations"] = items[offset:end]
            if end < len(items):
                answer["next"] = "?" + urlencode({"since": since, "offset": end})
        return 200, json.dumps(answer).encode()

    def add(self, *minutes: int, **changes: Any) -> None:
        for minute in minutes:
            item: dict[str, Any] = {
                "station": {"id": f"st-{minute}", "region": "north"},
                "observed_at": (BASE + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "temperature": 20.0 + minute,
                "humidity": 50,
            }
            item.update(changes)
            with self._lock:
                self.items.append(item)

    def __enter__(self) -> JsonSource:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def source() -> Iterator[JsonSource]:
    with JsonSource() as api:
        yield api


@pytest.fixture(scope="module")
def topic() -> str:
    return f"connect-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def server(tansu: Any, tmp_path_factory: pytest.TempPathFactory, topic: str) -> Any:
    config = {"kafka": {"bootstrap_servers": tansu.bootstrap, "topic": topic}}
    with SluiceServer(config, tmp_path_factory.mktemp("connect")) as srv:
        yield srv


def write_spec(path: Path, url: str, name: str, interval: str = "1h") -> Path:
    spec = {
        "name": name,
        "version": 1,
        "owner": "tests",
        "mode": "incremental",
        "schedule": {"interval": interval},
        "source": {"url": url, "cursor_param": "since", "timeout_seconds": 5},
        "mapping": {
            "items": "$.observations[*]",
            "device_id": "$.station.id",
            "timestamp": "$.observed_at",
            "values": {
                "temperature": {"path": "$.temperature", "unit": "°C"},
                "humidity": "$.humidity",
            },
            "tags": {"region": "$.station.region"},
            "cursor": "$.observed_at",
        },
        "retries": 3,
        "backoff_seconds": 0.05,
    }
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def connect(
    server: SluiceServer, spec: Path, state: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sluice", "connect", "--spec", str(spec)]
    command += ["--state-dir", str(state), "--target", server.target, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def devices_in_kafka(bootstrap: str, topic: str, minimum: int) -> dict[str, int]:
    readings: dict[str, int] = {}
    for record in consume_records(bootstrap, topic, min_records=minimum):
        for reading in ReadingBatch.FromString(record.value()).readings:
            readings[reading.device_id] = readings.get(reading.device_id, 0) + 1
    return readings


def test_bursts_drift_and_restarts(
    server: SluiceServer, source: JsonSource, tansu: Any, topic: str, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "weather.yaml", source.url, "weather")
    state = tmp_path / "state"
    source.add(1, 2, 4, 5)
    source.add(3, station={"name": "renamed"})  # drift: no station.id
    source.fail_next = 2

    first = connect(server, spec, state, "--once")
    assert first.returncode == 0, first.stderr
    assert "1 polls (0 failed), 8 readings" in first.stdout
    assert "mapping.device_id=1" in first.stderr
    assert len(source.queries) == 3
    assert "since" not in source.queries[-1]
    checkpoint = json.loads((state / "weather.checkpoint.json").read_text())
    assert checkpoint["cursor"] == source.items[3]["observed_at"]  # minute 5

    source.add(6, 7)
    second = connect(server, spec, state, "--once")  # a restart: resumes from the checkpoint
    assert second.returncode == 0, second.stderr
    assert source.queries[-1]["since"] == [checkpoint["cursor"]]
    assert "1 polls (0 failed), 4 readings" in second.stdout

    source.fail_next = 10
    third = connect(server, spec, state, "--once")
    assert third.returncode == 1
    assert "poll failed after 4 attempt(s): HTTP 503" in third.stderr
    after = json.loads((state / "weather.checkpoint.json").read_text())
    assert after["cursor"] == source.items[-1]["observed_at"]  # minute 7, unchanged by the failure

    per_device = devices_in_kafka(tansu.bootstrap, topic, minimum=2)
    assert per_device == {f"st-{m}": 2 for m in (1, 2, 4, 5, 6, 7)}, "each item sent once"


def test_runs_on_schedule_until_sigterm(
    server: SluiceServer, source: JsonSource, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "fast.yaml", source.url, "fast", interval="200ms")
    source.add(1)
    command = [sys.executable, "-m", "sluice", "connect", "--spec", str(spec)]
    command += ["--state-dir", str(tmp_path / "state"), "--target", server.target]
    log = tmp_path / "connect.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while len(source.queries) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(RUN_TIMEOUT_S) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(source.queries) >= 3
    assert "failed), 2 readings" in log.read_text()


def test_a_bad_spec_exits_2_naming_the_field(server: SluiceServer, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "bad.yaml", "http://127.0.0.1:9/none", "bad")
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    del document["mapping"]["device_id"]
    spec.write_text(yaml.safe_dump(document), encoding="utf-8")
    done = connect(server, spec, tmp_path / "state")
    assert done.returncode == 2
    assert "mapping.device_id: is required" in done.stderr


def test_pages_are_followed_and_the_rest_waits_for_the_next_poll(
    server: SluiceServer, source: JsonSource, tansu: Any, topic: str, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "paged.yaml", source.url, "paged")
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    document["source"]["pagination"] = {"next": "$.next", "max_pages": 2}
    spec.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    source.page_size = 3
    for minute in range(1, 8):
        source.add(minute, station={"id": f"paged-{minute}", "region": "north"})
    state = tmp_path / "state"

    first = connect(server, spec, state, "--once")
    assert first.returncode == 0, first.stderr
    assert "1 polls (0 failed), 12 readings" in first.stdout
    assert [query.get("offset") for query in source.queries] == [None, ["3"]]
    checkpoint = json.loads((state / "paged.checkpoint.json").read_text())
    assert checkpoint["cursor"] == source.items[5]["observed_at"]  # minute 6, page 2's last

    second = connect(server, spec, state, "--once")
    assert second.returncode == 0, second.stderr
    assert source.queries[-1]["since"] == [checkpoint["cursor"]]
    assert "1 polls (0 failed), 2 readings" in second.stdout  # minute 7; 6 was sent before
    after = json.loads((state / "paged.checkpoint.json").read_text())
    assert after["cursor"] == source.items[6]["observed_at"]

    per_device = devices_in_kafka(tansu.bootstrap, topic, minimum=2)
    paged = {device: n for device, n in per_device.items() if device.startswith("paged-")}
    assert paged == {f"paged-{m}": 2 for m in range(1, 8)}, "each item sent once"
