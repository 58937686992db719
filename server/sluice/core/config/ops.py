"""Config of the ops HTTP listener, logs and tracing."""

from typing import Literal

from sluice.core.config.base import ComponentConfig


class OpsConfig(ComponentConfig):
    """The ops listener serving /metrics, /healthz and /readyz."""

    listen: str = "127.0.0.1:9464"
    """host:port of the ops HTTP listener; port 0 picks a free port."""


class LoggingConfig(ComponentConfig):
    """Process logs: JSON, one event per line, on stderr."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level logged."""
    format: Literal["json", "text"] = "json"
    """``json`` (one object per line) for machines, ``text`` for people."""
