"""Why a call was refused before it reached the receiver.

    AuthError
    ├── Unauthenticated     no usable credentials: missing, malformed, unknown or expired
    └── PermissionDenied    valid credentials that may not do this: scope or tenant

``reason`` is one of the ``REASONS`` (a low-cardinality metric label). ``message`` goes to
a gRPC client, ``http_message`` to an HTTP one: the credentials travel in call metadata over
gRPC and in headers over HTTP, and the texts say so. Neither ever holds a credential.
``sluice.frontdoors.receiver.acks`` maps these to gRPC codes.
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
    """A call that may not proceed; ``http_message`` defaults to ``message``."""

    def __init__(self, reason: str, message: str, http_message: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.http_message = message if http_message is None else http_message


class Unauthenticated(AuthError):
    """The call carries no credentials the server accepts."""


class PermissionDenied(AuthError):
    """The credentials are valid, but not for this scope or tenant."""


def missing_credentials() -> Unauthenticated:
    """No ``authorization`` entry at all."""
    return _unauthenticated(
        MISSING, "credentials required: send 'authorization: Bearer <token>' {}"
    )


def malformed_credentials() -> Unauthenticated:
    """An ``authorization`` entry that is not exactly one ``Bearer <token>``."""
    return _unauthenticated(MALFORMED, "the authorization {} must be one 'Bearer <token>'")


def _unauthenticated(reason: str, text: str) -> Unauthenticated:
    """``text`` names where credentials go: metadata for gRPC, a header for HTTP."""
    return Unauthenticated(reason, text.format("metadata"), text.format("header"))
