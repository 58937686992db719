"""Who is calling: a call's metadata to a ``Principal``, or an ``AuthError``.

Authentication runs once per call (a stream is one call), never per message.

- ``authorization: Bearer <token>`` carries the token. Its SHA-256 digest is looked up in a
  dict of the configured digests: the lookup's timing can only reveal something about a
  digest, and a digest does not lead back to a token.
- ``sluice-tenant: <tenant>`` may name the tenant the caller means to act for. The tenant
  always comes from the credentials: this header only confirms it, and naming any other
  tenant is PERMISSION_DENIED.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sluice.core.config.auth import SCOPES, AuthConfig, Scope, TokenConfig, token_digest
from sluice.ops.auth import errors
from sluice.ops.auth.errors import PermissionDenied, Unauthenticated

AUTHORIZATION = "authorization"
TENANT_HEADER = "sluice-tenant"

Metadata = Iterable[tuple[str, str | bytes]] | None
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its tenant, what it may do, and until when."""

    tenant: str
    scopes: frozenset[Scope]
    expires_at: datetime | None = None


class Authenticator(Protocol):
    """Maps a call's metadata to its principal for ``scope``."""

    def authenticate(self, metadata: Metadata, scope: Scope) -> Principal:
        """The caller, allowed ``scope``; raises ``Unauthenticated`` or ``PermissionDenied``."""
        ...


def build_authenticator(config: AuthConfig, clock: Clock | None = None) -> Authenticator:
    """The authenticator ``config.mode`` asks for."""
    if config.mode == "token":
        return TokenAuth(config.tokens, clock)
    return NoAuth(config)


class NoAuth:
    """``auth.mode: none``: every call belongs to the default tenant, with every scope."""

    def __init__(self, config: AuthConfig) -> None:
        self._principal = Principal(config.default_tenant, frozenset(SCOPES))

    def authenticate(self, metadata: Metadata, scope: Scope) -> Principal:
        """The default tenant, unless the call names another tenant."""
        _confirm_tenant(self._principal, metadata)
        return self._principal


class TokenAuth:
    """``auth.mode: token``: per-tenant bearer tokens, known by their SHA-256 digests."""

    def __init__(self, tokens: Iterable[TokenConfig], clock: Clock | None = None) -> None:
        self._tokens = {token.sha256: token for token in tokens}
        self._clock = clock or _utc_now

    def use(self, tokens: Iterable[TokenConfig]) -> None:
        """Accept ``tokens`` from now on, and only them (calls already admitted keep going)."""
        self._tokens = {token.sha256: token for token in tokens}

    def authenticate(self, metadata: Metadata, scope: Scope) -> Principal:
        """The token's tenant; raises ``AuthError`` for bad, expired or insufficient tokens."""
        token = self._tokens.get(token_digest(bearer_token(metadata)))
        if token is None:
            raise Unauthenticated(errors.UNKNOWN, "the bearer token is not valid")
        if token.expired(self._clock()):
            raise Unauthenticated(errors.EXPIRED, "the bearer token has expired")
        principal = Principal(token.tenant, frozenset(token.scopes), token.expires_at)
        if scope not in principal.scopes:
            raise PermissionDenied(errors.SCOPE, f"the bearer token lacks the {scope!r} scope")
        _confirm_tenant(principal, metadata)
        return principal


def bearer_token(metadata: Metadata) -> str:
    """The token of the call's one ``authorization: Bearer <token>`` entry."""
    values = _values(metadata, AUTHORIZATION)
    if not values:
        raise errors.missing_credentials()
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if len(values) > 1 or scheme.lower() != "bearer" or not token:
        raise errors.malformed_credentials()
    return token


def _confirm_tenant(principal: Principal, metadata: Metadata) -> None:
    for named in _values(metadata, TENANT_HEADER):
        if named != principal.tenant:
            raise PermissionDenied(
                errors.TENANT,
                f"these credentials belong to tenant {principal.tenant!r}, "
                f"not to the tenant named in {TENANT_HEADER}",
            )


def _values(metadata: Metadata, key: str) -> list[str]:
    if not metadata:
        return []
    return [
        value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        for name, value in metadata
        if name == key
    ]


def _utc_now() -> datetime:
    return datetime.now(UTC)
