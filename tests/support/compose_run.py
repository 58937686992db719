"""Runs services of ``deploy/compose/compose.yaml`` with podman, on one podman network.

- ``PodmanNetwork``: a bridge network of the test's own, removed afterwards. This machine's
  podman (CNI, without the dnsname plugin) resolves no container names, so every container
  gets a fixed address on it and the other services' names through ``--add-host``, which
  stands in for compose's DNS.
- ``service_options``: the ``podman run`` flags of one compose service, from the file itself
  (environment, bind mounts, named volumes, read-only root and tmpfs, published ports), with
  the overrides a test names and the published host ports it chooses.
- ``Forwarder``: TCP from an address on this machine (the network's gateway, which
  containers reach as ``host.containers.internal``) to a port on 127.0.0.1, for servers the
  test runs on loopback. Nothing it carries leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import subprocess
import threading
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from tests.support.compose import mounts, ports
from tests.support.images import engine, read_only_root

CHUNK = 64 * 1024
COMMAND_TIMEOUT_S = 60.0
T = TypeVar("T")


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    """Run an engine command; fail with its output if it fails."""
    result = subprocess.run(
        [*engine(), *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return result


class PodmanNetwork:
    """A podman bridge network named ``sluice-compose-<random>``, with fixed addresses."""

    def __init__(self) -> None:
        self.name = f"sluice-compose-{uuid.uuid4().hex[:8]}"
        self._hosts: dict[str, str] = {}
        self.gateway = ""
        self._free: list[str] = []

    def create(self) -> PodmanNetwork:
        """Create the network (podman picks a free subnet) and read its addresses."""
        podman("network", "create", self.name)
        [info] = json.loads(podman("network", "inspect", self.name).stdout)
        [subnet] = info["subnets"]
        self.gateway = subnet["gateway"]
        network = ipaddress.ip_network(subnet["subnet"])
        self._free = [str(host) for host in network.hosts() if str(host) != self.gateway][9:]
        return self

    def address(self, service: str) -> str:
        """The fixed address of ``service`` on the network (given on first use)."""
        if service not in self._hosts:
            self._hosts[service] = self._free.pop(0)
        return self._hosts[service]

    def on_host(self, service: str) -> None:
        """Resolve ``service`` to the network's gateway: this machine, where the test runs
        it (behind a ``Forwarder``)."""
        self._hosts[service] = self.gateway

    def run_options(self, service: str) -> list[str]:
        """``--ip`` for ``service`` and an ``--add-host`` for every service named so far."""
        options = ["--ip", self.address(service)]
        for other, address in sorted(self._hosts.items()):
            if other != service:
                options += ["--add-host", f"{other}:{address}"]
        return options

    def remove(self) -> None:
        """Remove the network (its containers must be gone). Idempotent."""
        subprocess.run(
            [*engine(), "network", "rm", "-f", self.name],
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )


def service_options(
    service: Mapping[str, Any],
    volume_prefix: str,
    host_ports: Mapping[int, int],
    overrides: Mapping[str, str] | None = None,
) -> list[str]:
    """The ``podman run`` flags of a compose ``service`` (interpolated).

    ``overrides`` replaces environment variables; each published port keeps its container
    port and 127.0.0.1 but takes its host port from ``host_ports`` (container port -> host
    port); named volumes are prefixed with ``volume_prefix``.
    """
    options: list[str] = []
    environment = {**service.get("environment", {}), **(overrides or {})}
    for key, value in environment.items():
        options += ["--env", f"{key}={value}"]
    for mount in mounts(service):
        source = str(mount.host_path) if mount.bind else f"{volume_prefix}-{mount.source}"
        options += ["--volume", f"{source}:{mount.target}" + (":ro" if mount.read_only else "")]
    if service.get("read_only"):
        options += read_only_root()
    for path in service.get("tmpfs", []):
        options += ["--tmpfs", path]
    for port in ports(service):
        assert port.host_ip == "127.0.0.1", port
        options += ["--publish", f"127.0.0.1:{host_ports[port.target]}:{port.target}"]
    return options


def named_volumes(services: Sequence[Mapping[str, Any]], volume_prefix: str) -> list[str]:
    """The podman volumes ``service_options`` names for ``services``."""
    return sorted(
        {f"{volume_prefix}-{m.source}" for s in services for m in mounts(s) if not m.bind}
    )


def health_check(service: Mapping[str, Any]) -> list[str]:
    """The command of the service's compose health check, for ``podman exec``."""
    test = list(service["healthcheck"]["test"])
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", test[1]]
    assert test[0] == "CMD", test
    return test[1:]


def healthy(container_name: str, service: Mapping[str, Any]) -> bool:
    """Whether the service's health check passes in ``container_name`` now."""
    result = subprocess.run(
        [*engine(), "exec", container_name, *health_check(service)],
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return result.returncode == 0


class Forwarder:
    """Forwards ``host``:``port`` to 127.0.0.1:``target_port``, on a loop in a thread."""

    def __init__(self, host: str, port: int, target_port: int) -> None:
        self.host = host
        self.port = port
        self.target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def start(self) -> Forwarder:
        """Listen, and forward every connection."""
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        """Close the listener and every connection, and stop the thread. Idempotent."""
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._forward, self.host, self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.close()
            return
        self._open |= {writer, target_writer}
        await asyncio.gather(self._pipe(reader, target_writer), self._pipe(target_reader, writer))
        self._open -= {writer, target_writer}

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(CHUNK):
                writer.write(chunk)
                await writer.drain()
        writer.close()


__all__ = [
    "Forwarder",
    "PodmanNetwork",
    "health_check",
    "healthy",
    "named_volumes",
    "podman",
    "service_options",
]
