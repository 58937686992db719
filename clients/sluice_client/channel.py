"""Opening the gRPC channel: TLS or mTLS, call metadata and channel options."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from sluice_client.backoff import Backoff
from sluice_client.errors import CertificateUnreadable

KEEPALIVE_TIME_MS = 30_000
KEEPALIVE_TIMEOUT_MS = 10_000

ChannelOptions = Sequence[tuple[str, Any]]


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """TLS for the channel; with ``client_cert`` and ``client_key`` also mTLS.

    Without ``ca_cert`` the system's root certificates are trusted.
    """

    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    server_name: str | None = None
    """Name to verify the server's certificate against, when it differs from the target host."""

    def __post_init__(self) -> None:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key must be given together")

    def credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials read from the certificate files; ``CertificateUnreadable``
        names a file that cannot be read."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_cert, "CA certificate"),
            private_key=_read(self.client_key, "client key"),
            certificate_chain=_read(self.client_cert, "client certificate"),
        )


def _read(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise CertificateUnreadable(what, Path(path), error) from None


def call_metadata(
    token: str | None, extra: Sequence[tuple[str, str]] = ()
) -> tuple[tuple[str, str], ...]:
    """Metadata sent with every call: ``authorization: Bearer <token>`` and ``extra``."""
    bearer = (("authorization", f"Bearer {token}"),) if token else ()
    return bearer + tuple(extra)


def channel_options(backoff: Backoff, extra: ChannelOptions = ()) -> list[tuple[str, Any]]:
    """Options for a channel of its own, with keepalive and reconnects paced like ``backoff``."""
    options: dict[str, Any] = {
        # A connection per client, so that several clients spread over a server's workers.
        "grpc.use_local_subchannel_pool": 1,
        "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
        "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
        "grpc.initial_reconnect_backoff_ms": max(1, int(backoff.initial_s * 1000)),
        "grpc.max_reconnect_backoff_ms": max(1, int(backoff.max_s * 1000)),
    }
    options.update(dict(extra))
    return list(options.items())


ClientInterceptors = Sequence[grpc.aio.ClientInterceptor]


def open_channel(
    target: str,
    tls: TlsOptions | None,
    options: ChannelOptions,
    interceptors: ClientInterceptors = (),
) -> grpc.aio.Channel:
    """An insecure channel, or a secure one when ``tls`` is given; every call on it passes
    through ``interceptors`` (e.g. OpenTelemetry's), in order."""
    chain = list(interceptors) or None
    if tls is None:
        return grpc.aio.insecure_channel(target, options=list(options), interceptors=chain)
    if tls.server_name:
        options = [*options, ("grpc.ssl_target_name_override", tls.server_name)]
    credentials = tls.credentials()
    return grpc.aio.secure_channel(target, credentials, options=list(options), interceptors=chain)
