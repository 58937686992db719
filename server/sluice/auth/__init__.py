"""Who is calling: a call's credentials to a tenant and its scopes.

``auth.mode: none`` maps every call to ``default_tenant`` (loopback listeners only);
``auth.mode: token`` takes the tenant from a per-tenant bearer token.
"""

import ipaddress

from sluice.auth.authenticators import (
    Authenticator,
    NoAuth,
    Principal,
    TokenAuth,
    build_authenticator,
)
from sluice.auth.config import SCOPES, AuthConfig, Scope, TokenConfig, token_digest
from sluice.auth.errors import AuthError, PermissionDenied, Unauthenticated

__all__ = [
    "SCOPES",
    "AuthConfig",
    "AuthError",
    "Authenticator",
    "NoAuth",
    "PermissionDenied",
    "Principal",
    "Scope",
    "TokenAuth",
    "TokenConfig",
    "Unauthenticated",
    "build_authenticator",
    "is_loopback",
    "token_digest",
]


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
