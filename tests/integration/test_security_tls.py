"""TLS and mTLS on the real server, with the SDK, and certificate rotation on SIGHUP."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.ops.auth import token_digest
from sluice.v1.ingest_pb2 import AckStatus
from sluice_client import ConnectError, IngestClient, TlsOptions
from tests.support.certs import PemFiles, client_tls, issue, server_tls
from tests.support.ingest import batch, open_channel, reading, stream
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.integration

TOKEN = "tls-token-9a8b7c"
RELOADED = "TLS certificate reloaded"


def credentials(ca: Path, client: PemFiles | None = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        ca.read_bytes(),
        client.key.read_bytes() if client else None,
        client.cert.read_bytes() if client else None,
    )


def health_over(target: str, channel_credentials: grpc.ChannelCredentials | None) -> str:
    """The health status over a new connection, or the gRPC code that stopped it."""
    with open_channel(target, channel_credentials) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        except grpc.RpcError as error:
            return str(error.code().name)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PemFiles]:
    root = tmp_path_factory.mktemp("pki")
    server_ca, client_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    return {
        "server": issue(server_ca, root / "server", "server"),
        "client": issue(client_ca, root / "client", "client", "gateway-1"),
        "stranger": issue(stranger_ca, root / "stranger", "client", "gateway-2"),
    }


@pytest.fixture(scope="module")
def mtls_server(
    tansu: Any, tmp_path_factory: pytest.TempPathFactory, pki: dict[str, PemFiles]
) -> Any:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "server": {"tls": server_tls(pki["server"], client_ca=pki["client"].ca)},
        "auth": {"mode": "token", "tokens": [{"tenant": "acme", "sha256": token_digest(TOKEN)}]},
    }
    with SluiceServer(config, tmp_path_factory.mktemp("mtls")) as srv:
        yield srv


async def test_the_sdk_streams_over_mtls_with_a_token(
    mtls_server: SluiceServer, pki: dict[str, PemFiles]
) -> None:
    tls = client_tls(pki["server"].ca, pki["client"])
    async with IngestClient(mtls_server.target, tls=tls, token=TOKEN) as client:
        await client.send_many([reading("mtls-1"), reading("mtls-2")])
        await client.flush()
        assert client.stats.readings_accepted == 2
        ack = await client.push(batch([reading("mtls-3")], seq=0))
        assert ack.status == AckStatus.ACK_STATUS_OK


@pytest.mark.parametrize(
    "tls",
    [
        pytest.param(None, id="plaintext"),
        pytest.param("no-client-cert", id="no-client-cert"),
        pytest.param("stranger", id="client-cert-of-another-ca"),
        pytest.param("wrong-server-ca", id="untrusted-server"),
    ],
)
async def test_the_sdk_cannot_connect_without_the_right_certificates(
    mtls_server: SluiceServer, pki: dict[str, PemFiles], tls: str | None
) -> None:
    options = {
        None: None,
        "no-client-cert": client_tls(pki["server"].ca),
        "stranger": client_tls(pki["server"].ca, pki["stranger"]),
        "wrong-server-ca": client_tls(pki["client"].ca, pki["client"]),
    }[tls]
    client = IngestClient(mtls_server.target, tls=options, token=TOKEN)
    with pytest.raises(ConnectError):
        await client.start(connect_timeout_s=1.5)


def test_raw_grpc_needs_the_client_certificate_and_the_token(
    mtls_server: SluiceServer, pki: dict[str, PemFiles]
) -> None:
    good = credentials(pki["server"].ca, pki["client"])
    assert health_over(mtls_server.target, good) == "SERVING", "health needs no token"
    assert health_over(mtls_server.target, credentials(pki["server"].ca)) == "UNAVAILABLE"
    with pytest.raises(grpc.RpcError) as caught:
        stream(mtls_server.target, [batch([reading()], seq=1)], 10, credentials=good)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_tls_without_client_certificates(
    tansu: Any, tmp_path: Path, pki: dict[str, PemFiles]
) -> None:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "server": {"tls": server_tls(pki["server"])},
    }
    with SluiceServer(config, tmp_path) as server:
        async with IngestClient(server.target, tls=TlsOptions(ca_cert=pki["server"].ca)) as client:
            await client.send(reading("tls-1"))
            await client.flush()
            assert client.stats.readings_accepted == 1
        assert health_over(server.target, None) == "UNAVAILABLE", "plaintext must not work"


def wait_for_log(server: SluiceServer, text: str, count: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while server.logs().count(text) < count:
        assert time.monotonic() < deadline, f"{count}x {text!r} not logged:\n{server.logs()}"
        time.sleep(0.05)


async def test_sighup_rotates_the_certificate_of_every_worker(tansu: Any, tmp_path: Path) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    live = issue(old_ca, tmp_path / "live", "server")
    new = issue(new_ca, tmp_path / "new", "server")
    config = {"kafka": {"bootstrap_servers": tansu.bootstrap}, "server": {"tls": server_tls(live)}}
    with SluiceServer(config, tmp_path, workers=2) as server:
        old_trust, new_trust = credentials(live.ca), credentials(new.ca)
        assert health_over(server.target, old_trust) == "SERVING"
        assert health_over(server.target, new_trust) == "UNAVAILABLE"
        async with IngestClient(server.target, tls=TlsOptions(ca_cert=live.ca)) as before:
            await before.send(reading("rot-1"))
            await before.flush()

            shutil.copyfile(new.cert, live.cert)
            shutil.copyfile(new.key, live.key)
            server.send_signal(signal.SIGHUP)
            wait_for_log(server, RELOADED, count=2)  # one per worker

            # New connections spread over both workers (SO_REUSEPORT): all see the new one.
            for _ in range(8):
                assert health_over(server.target, new_trust) == "SERVING"
                assert health_over(server.target, old_trust) == "UNAVAILABLE"
            await before.send(reading("rot-2"))
            await before.flush()
            assert before.stats.readings_accepted == 2, "an open connection keeps working"
            assert before.stats.reconnects == 0


def test_a_bad_certificate_on_sighup_keeps_the_current_one(tansu: Any, tmp_path: Path) -> None:
    live = issue(trustme.CA(), tmp_path / "live", "server")
    config = {"kafka": {"bootstrap_servers": tansu.bootstrap}, "server": {"tls": server_tls(live)}}
    with SluiceServer(config, tmp_path) as server:
        live.key.write_text("not a key", encoding="utf-8")
        server.send_signal(signal.SIGHUP)
        wait_for_log(server, "TLS certificate not reloaded", count=1)
        assert health_over(server.target, credentials(live.ca)) == "SERVING"
