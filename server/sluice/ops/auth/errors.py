"""Why a call was refused before it reached the receiver.

    AuthError
    ├── Unauthenticated     no usable credentials: missing, malformed, unknown or expired
    └── PermissionDenied    valid credentials that may not do this: scope or tenant

``reason`` is one of the ``REASONS`` (a low-cardinality metric label); ``message`` goes to
the client and never holds a credential. ``sluice.frontdoors.receiver.acks`` maps these to
gRPC codes.
"""

from __future__ import annotations

from typing import Final

MISSING: Final = "missing"
MALFORMED: Final = "malformed"
UNKNOWN: Final = "unknown"
EXPIRED: Final = "expired"
SCOPE: Final = "scope"
TENANT: Final = "tenant"
REASONS: Final = (MISSING, MALFORMED, UNKNOWN, EXPIRED, SCOPE, TENANT)


class AuthError(Exception):
    """A call that may not proceed."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Unauthenticated(AuthError):
    """The call carries no credentials the server accepts."""


class PermissionDenied(AuthError):
    """The credentials are valid, but not for this scope or tenant."""
