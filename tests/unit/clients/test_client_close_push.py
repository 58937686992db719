"""close() waits for outstanding Acks; push() uses the unary RPC; TLS and mTLS channels."""

import asyncio
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from scripted_ingest import ScriptedIngest, ScriptedStream, serve
from sdk_helpers import FAST_BACKOFF, reading

from sluice.v1.ingest_pb2 import ACK_STATUS_OK, ACK_STATUS_RATE_LIMITED, Ack, ReadingBatch
from sluice_client import (
    AckTimeout,
    CallFailed,
    ClientClosed,
    ConnectError,
    IngestClient,
    TlsOptions,
)

ACK_DELAY_S = 0.2


async def test_close_flushes_and_waits_for_outstanding_acks(
    double: ScriptedIngest, target: str
) -> None:
    def ack_later(stream: ScriptedStream, batch: ReadingBatch) -> None:
        asyncio.get_running_loop().call_later(ACK_DELAY_S, stream.ok, batch)

    double.responder = ack_later
    client = IngestClient(target, max_batch_readings=2, linger_s=60.0)
    await client.start()
    await client.send_many(reading(n) for n in range(3))
    await client.close()
    stats = client.stats
    assert (stats.batches_acked, stats.readings_accepted, stats.unacknowledged_batches) == (2, 3, 0)
    assert double.batch_sizes() == [2, 1]
    with pytest.raises(ClientClosed):
        await client.send(reading(4))
    await client.close()


async def test_close_gives_up_after_its_timeout(double: ScriptedIngest, target: str) -> None:
    double.responder = lambda stream, batch: None
    client = IngestClient(target)
    await client.start()
    await client.send(reading(1))
    with pytest.raises(AckTimeout) as raised:
        await client.close(ack_timeout_s=0.2)
    assert raised.value.unacknowledged == 1


async def test_push_shares_the_session_and_the_seq_counter(
    double: ScriptedIngest, target: str
) -> None:
    async with IngestClient(target, source_id="gw", max_batch_readings=1) as client:
        ack = await client.push(ReadingBatch(readings=[reading(1)]))
        await client.send(reading(2))
        await client.flush()
    assert (ack.seq, ack.status, ack.accepted) == (1, ACK_STATUS_OK, 1)
    pushed = double.pushed[0]
    assert (pushed.session_id, pushed.source_id, pushed.seq) == (client.session_id, "gw", 1)
    assert double.seqs() == [2]


async def test_push_returns_a_not_durable_ack_as_is(double: ScriptedIngest, target: str) -> None:
    double.push_ack = lambda batch: Ack(seq=batch.seq, status=ACK_STATUS_RATE_LIMITED)
    async with IngestClient(target) as client:
        ack = await client.push(ReadingBatch(seq=7, session_id="mine", readings=[reading(1)]))
    assert (ack.seq, ack.status) == (7, ACK_STATUS_RATE_LIMITED)
    assert double.pushed[0].session_id == "mine"


async def test_push_raises_call_failed_on_a_grpc_error(double: ScriptedIngest, target: str) -> None:
    double.push_abort = (grpc.StatusCode.PERMISSION_DENIED, "tenant forbidden")
    async with IngestClient(target) as client:
        with pytest.raises(CallFailed) as raised:
            await client.push(ReadingBatch(readings=[reading(1)]))
    assert (raised.value.code, raised.value.details) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "tenant forbidden",
    )


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _issue(name: str, ca: Path, cwd: Path, extensions: str) -> None:
    _openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        f"/CN={name}",
        cwd=cwd,
    )
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", ca, "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "1",
             "-extfile", f"{name}.ext", cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for localhost and a client certificate, made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cwd = tmp_path_factory.mktemp("certs")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=sluice-test-ca", cwd=cwd)  # fmt: skip
    _issue("server", cwd / "ca.pem", cwd, "subjectAltName=DNS:sluice.test\n")
    _issue("client", cwd / "ca.pem", cwd, "extendedKeyUsage=clientAuth\n")
    return cwd


def _mtls_server(certs: Path) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [((certs / "server.key").read_bytes(), (certs / "server.pem").read_bytes())],
        root_certificates=(certs / "ca.pem").read_bytes(),
        require_client_auth=True,
    )


async def test_mtls_with_a_client_certificate(certs: Path) -> None:
    double = ScriptedIngest()
    tls = TlsOptions(
        ca_cert=certs / "ca.pem",
        client_cert=certs / "client.pem",
        client_key=certs / "client.key",
        server_name="sluice.test",
    )
    async with serve(double, credentials=_mtls_server(certs)) as target:
        client = IngestClient(target, tls=tls, token="t")
        await client.start(connect_timeout_s=5.0)
        await client.send(reading(1))
        await client.close()
    assert double.seqs() == [1]
    assert double.streams[0].metadata["authorization"] == "Bearer t"


async def test_mtls_without_a_client_certificate_cannot_connect(certs: Path) -> None:
    tls = TlsOptions(ca_cert=certs / "ca.pem", server_name="sluice.test")
    async with serve(ScriptedIngest(), credentials=_mtls_server(certs)) as target:
        client = IngestClient(target, tls=tls, backoff=FAST_BACKOFF)
        with pytest.raises(ConnectError):
            await client.start(connect_timeout_s=0.5)


def test_tls_options_need_both_client_cert_and_key(certs: Path) -> None:
    with pytest.raises(ValueError, match="together"):
        TlsOptions(client_cert=certs / "client.pem")
