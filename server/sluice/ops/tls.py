"""TLS contexts and credentials of every listener, built here and nowhere else.

- gRPC: ``CertificateReloader`` (below).
- HTTPS (HTTP ingest, the query API): ``server_context`` builds an ``ssl.SSLContext`` and
  ``reload_tls`` loads renewed files into it.

On the gRPC listener, the certificate is re-read from its files on demand.

The server credentials are grpc's *dynamic* SSL credentials: grpc asks ``CertificateReloader``
for a new certificate configuration before every new connection's handshake. ``reload()``
(the worker calls it on SIGHUP) reads and checks the files and hands the result over once;
connections made after it see the new certificate, and open connections keep theirs.
"""

from __future__ import annotations

import logging
import ssl
import threading

import grpc

from sluice.core.config.tls import CertificateFiles, TlsConfig, TlsError, read_certificate

log = logging.getLogger(__name__)


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
            _configuration(self._initial),
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
            self._pending = _configuration(files)
        log.info("TLS certificate reloaded", extra={"cert_file": str(self._config.cert_file)})
        return True

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by grpc from its own threads before each handshake: hand a reloaded
        # configuration over once, then None ("no change") until the next reload.
        with self._lock:
            pending, self._pending = self._pending, None
        return pending


def _configuration(files: CertificateFiles) -> grpc.ServerCertificateConfiguration:
    """The grpc form of checked certificate files."""
    return grpc.ssl_server_certificate_configuration(
        [(files.private_key, files.cert_chain)], root_certificates=files.client_ca
    )


def server_context(config: TlsConfig) -> ssl.SSLContext:
    """A TLS server context for ``config``; client certificates required with a client CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.cert_file, config.key_file)
    if config.client_ca_file is not None:
        context.load_verify_locations(cafile=config.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def reload_tls(context: ssl.SSLContext, tls: TlsConfig, listener: str) -> bool:
    """Load ``tls``'s files into ``context`` for new connections; False (logged) if bad.

    ``listener`` names it in the log ("HTTP ingest", "query API").
    """
    try:
        read_certificate(tls)
        context.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.client_ca_file is not None:
            # Adds the CAs read now; ones removed from the file stay trusted until restart.
            context.load_verify_locations(cafile=tls.client_ca_file)
    except (TlsError, ssl.SSLError, OSError) as error:
        log.error("%s TLS certificate not reloaded; keeping the current one: %s", listener, error)
        return False
    log.info("%s TLS certificate reloaded", listener)
    return True
