"""Who is calling: a call's credentials to a tenant and its scopes.

``auth.mode: none`` maps every call to ``default_tenant`` (loopback listeners only);
``auth.mode: token`` takes the tenant from a per-tenant bearer token.
"""

from sluice.core.config.auth import SCOPES, AuthConfig, Scope, TokenConfig, token_digest
from sluice.ops.auth.authenticators import (
    Authenticator,
    NoAuth,
    Principal,
    TokenAuth,
    build_authenticator,
)
from sluice.ops.auth.errors import AuthError, PermissionDenied, Unauthenticated

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
    "token_digest",
]
