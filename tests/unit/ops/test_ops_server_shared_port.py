"""Two OpsServers in two processes share one port through SO_REUSEPORT."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import httpx

from sluice.ops.app import MULTIPROC_DIR_ENV

Spawn = Callable[..., subprocess.Popen[str]]
MAX_REQUESTS = 200

# Serves /metrics with a gauge holding its own pid until stdin closes, then shuts down.
SERVER = """
import asyncio, os, sys
from prometheus_client import CollectorRegistry, Gauge
from sluice.ops.app import build_ops_app
from sluice.ops.server import OpsServer

async def main():
    registry = CollectorRegistry()
    Gauge("test_server_pid", "The serving process.", registry=registry).set(os.getpid())
    server = OpsServer(sys.argv[1], build_ops_app(registry, lambda: True))
    await server.start()
    print(server.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.shutdown()

asyncio.run(main())
"""


def server_pid(metrics_text: str) -> int:
    for line in metrics_text.splitlines():
        if line.startswith("test_server_pid "):
            return int(float(line.split()[1]))
    raise AssertionError(f"no test_server_pid in {metrics_text!r}")


def test_two_processes_serve_one_port(spawn: Spawn) -> None:
    env = {key: value for key, value in os.environ.items() if key != MULTIPROC_DIR_ENV}
    first = spawn(SERVER, "127.0.0.1:0", env=env)
    assert first.stdout is not None
    port = int(first.stdout.readline())
    second = spawn(SERVER, f"127.0.0.1:{port}", env=env)
    assert second.stdout is not None
    assert int(second.stdout.readline()) == port

    seen: set[int] = set()
    for _ in range(MAX_REQUESTS):
        # A new connection each time, so the kernel picks a listener each time.
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        seen.add(server_pid(response.text))
        if len(seen) == 2:
            break

    assert seen == {first.pid, second.pid}
    for process in (first, second):
        process.communicate(input="", timeout=30)
        assert process.returncode == 0
