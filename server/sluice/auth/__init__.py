"""Who is calling: maps a call's credentials to a tenant."""

import ipaddress
from typing import Literal

from sluice.configbase import ComponentConfig


class AuthConfig(ComponentConfig):
    """How calls are authenticated. ``none`` maps every call to ``default_tenant``."""

    mode: Literal["none"] = "none"
    """``none`` maps every call to ``default_tenant`` and is allowed on loopback only."""
    default_tenant: str = "default"
    """The tenant of every call under ``auth.mode: none``."""


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NoAuth:
    """``auth.mode: none``: every call belongs to the default tenant."""

    def __init__(self, config: AuthConfig) -> None:
        self._tenant = config.default_tenant

    def tenant_for(self, metadata: object) -> str:
        """The tenant of a call with this invocation metadata."""
        return self._tenant
