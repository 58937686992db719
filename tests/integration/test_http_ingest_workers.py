"""HTTP ingest under the supervisor: HTTPS on a port every worker shares, and SIGHUP
certificate rotation in each of them."""

from __future__ import annotations

import shutil
import signal
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from sluice.core.netutil import free_port
from tests.support.certs import issue, server_tls
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.integration

RELOADED = "HTTP ingest TLS certificate reloaded"
BODY = {"readings": [{"device_id": "w-1", "metric": "temperature", "value": 20.5}]}


def post(url: str, ca: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    # A new client each time: a new connection, which the kernel gives to either worker.
    with httpx.Client(verify=context, timeout=30) as client:
        return client.post(url, json=BODY).status_code


def answered_200(server: SluiceServer) -> float:
    for line in server.metrics_text().splitlines():
        if line.startswith('sluice_http_requests_total{code="200"}'):
            return float(line.split()[-1])
    return 0.0


def test_workers_share_the_https_port_and_each_rotates_on_sighup(
    tansu: Any, tmp_path: Path
) -> None:
    live = issue(trustme.CA(), tmp_path / "live", "server")
    new = issue(trustme.CA(), tmp_path / "new", "server")
    port = free_port()
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "http": {"enabled": True, "listen": f"127.0.0.1:{port}", "tls": server_tls(live)},
    }
    url = f"https://127.0.0.1:{port}/v1/ingest"
    with SluiceServer(config, tmp_path, workers=2) as server:
        assert [post(url, live.ca) for _ in range(6)] == [200] * 6
        assert answered_200(server) == 6, "the metrics sum over both workers"

        shutil.copyfile(new.cert, live.cert)
        shutil.copyfile(new.key, live.key)
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while server.logs().count(RELOADED) < 2:  # one per worker
            assert time.monotonic() < deadline, server.logs()
            time.sleep(0.05)
        for _ in range(6):
            assert post(url, new.ca) == 200
            with pytest.raises(httpx.ConnectError):
                post(url, live.ca)  # the old CA: the files were replaced, not the CA file
