"""CertificateReloader on a real grpc.aio server: new connections see a reloaded certificate."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from sluice.ops.tls import CertificateReloader, TlsConfig
from tests.support.certs import PemFiles, issue

SERVING = health_pb2.HealthCheckResponse.SERVING


def channel_credentials(ca: Path, client: PemFiles | None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        ca.read_bytes(),
        client.key.read_bytes() if client else None,
        client.cert.read_bytes() if client else None,
    )


async def check(port: int, ca: Path, client: PemFiles | None = None) -> grpc.StatusCode:
    """The status of a health check over a new TLS connection trusting ``ca``."""
    credentials = channel_credentials(ca, client)
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials, options) as channel:
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
        assert answer.status == SERVING
        return grpc.StatusCode.OK


class Served:
    def __init__(self, live: PemFiles, reloader: CertificateReloader, port: int) -> None:
        self.live = live
        self.reloader = reloader
        self.port = port

    def replace_files(self, new: PemFiles) -> None:
        for source, target in ((new.cert, self.live.cert), (new.key, self.live.key)):
            shutil.copyfile(source, target)


async def serve(live: PemFiles, client_ca: Path | None = None) -> tuple[grpc.aio.Server, Served]:
    config = TlsConfig(cert_file=live.cert, key_file=live.key, client_ca_file=client_ca)
    reloader = CertificateReloader(config)
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", reloader.credentials())
    await server.start()
    return server, Served(live, reloader, port)


@pytest.fixture
def cas() -> tuple[trustme.CA, trustme.CA]:
    return trustme.CA(), trustme.CA()


@pytest.fixture
async def served(tmp_path: Path, cas: tuple[trustme.CA, trustme.CA]) -> AsyncIterator[Served]:
    server, state = await serve(issue(cas[0], tmp_path / "live", "server"))
    yield state
    await server.stop(None)


async def test_a_reload_applies_to_new_connections(
    served: Served, tmp_path: Path, cas: tuple[trustme.CA, trustme.CA]
) -> None:
    _old_ca, new_ca = cas
    new = issue(new_ca, tmp_path / "new", "server")
    assert await check(served.port, served.live.ca) == grpc.StatusCode.OK
    assert await check(served.port, new.ca) == grpc.StatusCode.UNAVAILABLE

    served.replace_files(new)
    assert await check(served.port, served.live.ca) == grpc.StatusCode.OK, "reloaded too early"
    assert served.reloader.reload()
    assert await check(served.port, new.ca) == grpc.StatusCode.OK
    assert await check(served.port, served.live.ca) == grpc.StatusCode.UNAVAILABLE
    assert await check(served.port, new.ca) == grpc.StatusCode.OK, "the new one must stay"


async def test_bad_files_keep_the_current_certificate(
    served: Served, tmp_path: Path, cas: tuple[trustme.CA, trustme.CA]
) -> None:
    stray = issue(cas[1], tmp_path / "stray", "server")
    shutil.copyfile(stray.key, served.live.key)  # a key that does not match the certificate
    assert not served.reloader.reload()
    assert await check(served.port, served.live.ca) == grpc.StatusCode.OK


async def test_a_client_ca_requires_client_certificates(tmp_path: Path) -> None:
    server_ca, client_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    live = issue(server_ca, tmp_path / "live", "server")
    client = issue(client_ca, tmp_path / "client", "client", "gateway-1")
    stranger = issue(stranger_ca, tmp_path / "stranger", "client", "gateway-2")
    server, state = await serve(live, client_ca=client.ca)
    try:
        assert await check(state.port, live.ca, client) == grpc.StatusCode.OK
        assert await check(state.port, live.ca) == grpc.StatusCode.UNAVAILABLE
        assert await check(state.port, live.ca, stranger) == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(None)
