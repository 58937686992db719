"""Certificates for TLS tests: throwaway CAs and the certificates they sign, as PEM files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

from sluice_client import TlsOptions

LOCAL_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class PemFiles:
    """A certificate chain, its key, and the CA that signed it, as files."""

    cert: Path
    key: Path
    ca: Path


def issue(ca: trustme.CA, directory: Path, name: str, *identities: str) -> PemFiles:
    """Write a certificate for ``identities`` (default: the loopback names) signed by ``ca``."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert(*(identities or LOCAL_NAMES))
    files = PemFiles(
        directory / f"{name}.crt", directory / f"{name}.key", directory / f"{name}-ca.crt"
    )
    for index, pem in enumerate(leaf.cert_chain_pems):
        pem.write_to_path(str(files.cert), append=index > 0)
    leaf.private_key_pem.write_to_path(str(files.key))
    ca.cert_pem.write_to_path(str(files.ca))
    return files


def server_tls(server: PemFiles, client_ca: Path | None = None) -> dict[str, str]:
    """The ``server.tls`` config section for these files."""
    section = {"cert_file": str(server.cert), "key_file": str(server.key)}
    if client_ca is not None:
        section["client_ca_file"] = str(client_ca)
    return section


def client_tls(trusted_ca: Path, client: PemFiles | None = None) -> TlsOptions:
    """SDK TLS options trusting ``trusted_ca``, with ``client``'s certificate for mTLS."""
    if client is None:
        return TlsOptions(ca_cert=trusted_ca)
    return TlsOptions(ca_cert=trusted_ca, client_cert=client.cert, client_key=client.key)
