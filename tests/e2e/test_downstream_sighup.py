"""SIGHUP to ``sluice query`` and ``sluice rollup``: the query API takes the config file's new
tokens for the requests that follow; the roll-up, with nothing to reload, keeps running."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.core.netutil import free_port
from sluice.embedded.broker import TansuBroker
from sluice.ops.auth import token_digest
from sluice.runtime.dev_rollup import TANSU_CONSUMER
from tests.support.services import SluiceCommand, http_get

pytestmark = pytest.mark.e2e

OLD = "old-query-token-51c2"
NEW = "new-query-token-0d9e"


def tokens(*secrets: str) -> list[dict[str, Any]]:
    return [{"tenant": "acme", "sha256": token_digest(s), "scopes": ["query"]} for s in secrets]


def status_with(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def wait_for_log(process: SluiceCommand, text: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in process.logs():
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{process.logs()}"
        time.sleep(0.05)


def test_sighup_gives_the_query_api_the_new_tokens(tmp_path: Path) -> None:
    listen, ops = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    config: dict[str, Any] = {
        "auth": {"mode": "token", "tokens": tokens(OLD)},
        "query": {"listen": listen, "ops_listen": ops},
        "rollup": {"store": {"sqlite_path": str(tmp_path / "rollup.db")}},
        "logging": {"format": "text"},
    }
    devices = f"http://{listen}/v1/devices"
    with SluiceCommand("query", config, tmp_path, f"http://{ops}/readyz") as query:
        assert (status_with(devices, OLD), status_with(devices, NEW)) == (200, 401)

        config["auth"]["tokens"] = tokens(NEW)
        query.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        assert query.process is not None
        query.process.send_signal(signal.SIGHUP)
        wait_for_log(query, "SIGHUP: auth.tokens reloaded")

        assert (status_with(devices, NEW), status_with(devices, OLD)) == (200, 401)
        assert query.stop() == 0, query.logs()


def test_sighup_leaves_the_rollup_running(tansu: TansuBroker, tmp_path: Path) -> None:
    ops = f"127.0.0.1:{free_port()}"
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap, "topic": "sighup-readings"},
        "rollup": {
            "ops_listen": ops,
            "client": TANSU_CONSUMER,
            "store": {"sqlite_path": str(tmp_path / "rollup.db")},
        },
        "logging": {"format": "text"},
    }
    with SluiceCommand("rollup", config, tmp_path, f"http://{ops}/readyz") as rollup:
        assert rollup.process is not None
        rollup.process.send_signal(signal.SIGHUP)
        wait_for_log(rollup, "SIGHUP: sluice rollup has nothing to reload")
        assert rollup.process.poll() is None
        assert http_get(f"http://{ops}/readyz")[0] == 200
        assert rollup.stop() == 0, rollup.logs()
