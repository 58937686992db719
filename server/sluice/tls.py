"""TLS and mTLS on the gRPC listener, with the certificate re-read from its files on demand.

The server credentials are grpc's *dynamic* SSL credentials: grpc asks ``CertificateReloader``
for a new certificate configuration before every new connection's handshake. ``reload()``
(the worker calls it on SIGHUP) reads and checks the files and hands the result over once;
connections made after it see the new certificate, and open connections keep theirs.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
from pydantic import FilePath, model_validator

from sluice.configbase import ComponentConfig

log = logging.getLogger(__name__)


class TlsConfig(ComponentConfig):
    """Certificate files of the gRPC listener; with ``client_ca_file``, mutual TLS."""

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

    def configuration(self) -> grpc.ServerCertificateConfiguration:
        """The grpc form of these files."""
        return grpc.ssl_server_certificate_configuration(
            [(self.private_key, self.cert_chain)], root_certificates=self.client_ca
        )


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


class CertificateReloader:
    """Dynamic server credentials for ``config``, and the ``reload()`` that refreshes them."""

    def __init__(self, config: TlsConfig) -> None:
        self._config = config
        self._initial = read_certificate(config)
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self._lock = threading.Lock()

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials for ``add_secure_port``; client certificates required with a CA."""
        return grpc.dynamic_ssl_server_credentials(
            self._initial.configuration(),
            self._fetch,  # type: ignore[arg-type]  # the stubs omit None ("no change")
            require_client_authentication=self._config.client_ca_file is not None,
        )

    def reload(self) -> bool:
        """Re-read the files; new connections use them. False (and logged) if they are bad,
        in which case the current certificate stays in use."""
        try:
            files = read_certificate(self._config)
        except TlsError as error:
            log.error("TLS certificate not reloaded; keeping the current one: %s", error)
            return False
        with self._lock:
            self._pending = files.configuration()
        log.info("TLS certificate reloaded", extra={"cert_file": str(self._config.cert_file)})
        return True

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by grpc from its own threads before each handshake: hand a reloaded
        # configuration over once, then None ("no change") until the next reload.
        with self._lock:
            pending, self._pending = self._pending, None
        return pending
