"""Config of the query API (``query:``); it reads the store that ``rollup.store`` names."""

from typing import Annotated

from pydantic import Field, model_validator

from sluice.core.config.base import ComponentConfig
from sluice.core.config.tls import TlsConfig

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_OPS_LISTEN = "127.0.0.1:9466"
DEFAULT_PAGE_SIZE = 100
DEFAULT_MAX_PAGE_SIZE = 1000
DEFAULT_MAX_RANGE_H = 24 * 92
DEFAULT_RANGE_H = 24
DEFAULT_TOP = 5
DEFAULT_MAX_TOP = 50


class QueryConfig(ComponentConfig):
    """The query API's own HTTP listener (never the ops port), its pages and its limits."""

    listen: str = DEFAULT_LISTEN
    """host:port of the query API; under ``auth.mode: none`` it must be a loopback address."""
    tls: TlsConfig | None = None
    """Serve HTTPS with this certificate (and, with ``client_ca_file``, require client ones);
    SIGHUP reloads."""
    ops_listen: str = DEFAULT_OPS_LISTEN
    """host:port of ``sluice query``'s ops listener: ``/metrics`` (requests by route and
    status, and their latency), ``/healthz`` and ``/readyz``; never the API's port."""
    page_size: Annotated[int, Field(ge=1)] = DEFAULT_PAGE_SIZE
    """Items per page when a request gives no ``limit``."""
    max_page_size: Annotated[int, Field(ge=1)] = DEFAULT_MAX_PAGE_SIZE
    """The largest ``limit`` a request may ask for."""
    default_range_h: Annotated[int, Field(ge=1)] = DEFAULT_RANGE_H
    """Hours covered when a request gives no ``from`` (counted back from ``to``, or now)."""
    max_range_h: Annotated[int, Field(ge=1)] = DEFAULT_MAX_RANGE_H
    """The longest ``from``–``to`` range a request may ask for, in hours."""
    max_top: Annotated[int, Field(ge=0)] = DEFAULT_MAX_TOP
    """The largest ``top`` (devices listed per hour) a request may ask for."""

    @model_validator(mode="after")
    def _consistent(self) -> "QueryConfig":
        if self.page_size > self.max_page_size:
            raise ValueError("page_size must not exceed max_page_size")
        if self.default_range_h > self.max_range_h:
            raise ValueError("default_range_h must not exceed max_range_h")
        return self
