"""Config of the HTTP/JSON ingest listener (``http`` section)."""

from typing import Annotated

from pydantic import Field, field_validator

from sluice.core.config.base import ComponentConfig
from sluice.core.config.tls import TlsConfig
from sluice.core.netutil import split_host_port

DEFAULT_LISTEN = "127.0.0.1:8081"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_SOURCE_ID = "http"


class HttpConfig(ComponentConfig):
    """``POST /v1/ingest`` on a listener of its own, never the ops port."""

    enabled: bool = False
    """Serve HTTP/JSON ingest in every worker."""
    listen: str = DEFAULT_LISTEN
    """host:port of the HTTP ingest listener; port 0 picks a free port."""
    max_body_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_BODY_BYTES
    """Largest request body accepted, as sent and once inflated (``Content-Encoding: gzip`` or
    ``deflate``); larger ones are answered 413."""
    default_source_id: Annotated[str, Field(min_length=1)] = DEFAULT_SOURCE_ID
    """``source_id`` of a body that names none (it is the default Kafka key)."""
    tls: TlsConfig | None = None
    """TLS files, as for the gRPC listener (``client_ca_file`` for mTLS); None: plain HTTP."""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, listen: str) -> str:
        split_host_port(listen)
        return listen
