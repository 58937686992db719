"""Certificate files of a TLS listener, checked with OpenSSL when the config is loaded."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from pydantic import FilePath, model_validator

from sluice.core.config.base import ComponentConfig


class TlsConfig(ComponentConfig):
    """Certificate files of a listener; with ``client_ca_file``, mutual TLS."""

    cert_file: FilePath
    """PEM certificate chain of the server, leaf first."""
    key_file: FilePath
    """PEM private key of ``cert_file``."""
    client_ca_file: FilePath | None = None
    """PEM CA bundle; when set, every client must present a certificate it signed (mTLS)."""

    @model_validator(mode="after")
    def _files_make_a_certificate(self) -> TlsConfig:
        read_certificate(self)
        return self


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """The PEM bytes of one certificate configuration, checked to belong together."""

    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None


class TlsError(ValueError):
    """A certificate, key or CA file is unreadable, not PEM, or the key does not match."""


def read_certificate(config: TlsConfig) -> CertificateFiles:
    """Read the files of ``config`` and check them with OpenSSL; raises ``TlsError``."""
    files = CertificateFiles(
        _read(config.cert_file, "cert_file"),
        _read(config.key_file, "key_file"),
        None if config.client_ca_file is None else _read(config.client_ca_file, "client_ca_file"),
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(config.cert_file, config.key_file)
    except ssl.SSLError as exc:
        raise TlsError(
            f"cert_file and key_file do not make a certificate and its key: {exc.reason}"
        ) from None
    if files.client_ca is not None:
        try:
            context.load_verify_locations(cadata=files.client_ca.decode("ascii", "replace"))
        except ssl.SSLError as exc:
            raise TlsError(f"client_ca_file holds no usable PEM CA: {exc.reason}") from None
    return files


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsError(f"{key}: cannot read {path}: {exc.strerror}") from None
