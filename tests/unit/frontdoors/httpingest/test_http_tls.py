"""HTTPS and mutual TLS on the HTTP ingest listener, and certificate reload for new connections."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import httpx
import pytest
import trustme

from tests.support.certs import PemFiles, issue, server_tls
from tests.support.sinks import RecordingSink
from tests.unit.frontdoors.httpingest.http_helpers import body, reading, serve


def client_context(ca: Path, client: PemFiles | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    return context


async def post(url: str, context: ssl.SSLContext | bool) -> httpx.Response:
    async with httpx.AsyncClient(verify=context, timeout=10) as client:
        return await client.post(url, json=body(reading()))


async def test_https_serves_and_reloads_the_certificate(tmp_path: Path) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    live = issue(old_ca, tmp_path / "live", "server")
    listener, harness = await serve(RecordingSink(), http={"tls": server_tls(live)})
    url = harness.url.replace("http://", "https://")
    try:
        assert (await post(url, client_context(live.ca))).status_code == 200
        with pytest.raises(httpx.HTTPError):
            await post(harness.url, False)  # plain HTTP on a TLS port

        rotated = issue(new_ca, tmp_path / "rotated", "server")
        shutil.copy(rotated.cert, live.cert)
        shutil.copy(rotated.key, live.key)
        assert listener.reload_tls()
        assert (await post(url, client_context(rotated.ca))).status_code == 200
        with pytest.raises(httpx.ConnectError):
            await post(url, client_context(live.ca))  # the old CA no longer verifies it

        live.key.write_text("not a key")
        assert not listener.reload_tls(), "bad files are refused, the current certificate kept"
        assert (await post(url, client_context(rotated.ca))).status_code == 200
    finally:
        await listener.shutdown()


async def test_mutual_tls_needs_a_client_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    server = issue(ca, tmp_path, "server")
    client = issue(ca, tmp_path, "client", "gateway-1")
    listener, harness = await serve(
        RecordingSink(), http={"tls": server_tls(server, client_ca=client.ca)}
    )
    url = harness.url.replace("http://", "https://")
    try:
        assert (await post(url, client_context(server.ca, client))).status_code == 200
        with pytest.raises(httpx.HTTPError):
            await post(url, client_context(server.ca))
    finally:
        await listener.shutdown()
