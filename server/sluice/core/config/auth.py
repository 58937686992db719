"""Config of call authentication: ``auth.mode`` and the tenants' bearer tokens.

Tokens are configured by their SHA-256 digest only (``sha256:<64 hex digits>``); the token
itself never appears in the config, so a leaked config file grants nothing.
``sluice hash-token`` prints the digest of a token read from stdin.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from sluice.core.config.base import ComponentConfig

Scope = Literal["ingest", "query"]
SCOPES: Final[tuple[Scope, ...]] = ("ingest", "query")
TENANT_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DIGEST_PREFIX: Final = "sha256:"
_DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")


def token_digest(token: str) -> str:
    """``sha256:<hex>`` of ``token``: the form ``auth.tokens[].sha256`` takes."""
    return DIGEST_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenConfig(ComponentConfig):
    """One bearer token: the tenant it authenticates and what it may do."""

    tenant: Annotated[str, Field(pattern=TENANT_PATTERN)]
    """The tenant every call made with this token belongs to (letters, digits, ``._-``)."""
    sha256: str
    """``sha256:`` and the lowercase hex SHA-256 of the token (``sluice hash-token``)."""
    scopes: tuple[Scope, ...] = ("ingest",)
    """What the token may call: ``ingest`` (Ingest.Stream, Ingest.Push) and ``query``."""
    expires_at: AwareDatetime | None = None
    """RFC 3339 time after which the token is refused (UNAUTHENTICATED); open streams end."""

    @field_validator("sha256", mode="before")
    @classmethod
    def _a_digest_not_a_token(cls, value: object) -> object:
        # The message never echoes the value: it may be a plaintext token pasted by mistake.
        text = value.strip().lower() if isinstance(value, str) else value
        if not isinstance(text, str) or not _DIGEST.fullmatch(text):
            raise ValueError(
                "must be 'sha256:' followed by the 64 hex digits of the token's SHA-256 "
                "digest, never the token itself (print one with `sluice hash-token`)"
            )
        return text

    @field_validator("scopes")
    @classmethod
    def _some_scope(cls, value: tuple[Scope, ...]) -> tuple[Scope, ...]:
        if not value:
            raise ValueError("a token needs at least one scope")
        return tuple(dict.fromkeys(value))

    def expired(self, now: datetime) -> bool:
        """True when ``now`` (timezone-aware) is at or past ``expires_at``."""
        return self.expires_at is not None and now >= self.expires_at


class AuthConfig(ComponentConfig):
    """How calls are authenticated.

    ``none`` maps every call to ``default_tenant`` (loopback listeners only); ``token``
    requires ``authorization: Bearer <token>`` metadata matching one of ``tokens``.
    """

    mode: Literal["none", "token"] = "none"
    """``none``: every call is ``default_tenant`` (loopback only); ``token``: bearer tokens."""
    default_tenant: Annotated[str, Field(pattern=TENANT_PATTERN)] = "default"
    """The tenant of every call under ``auth.mode: none``."""
    tokens: tuple[TokenConfig, ...] = ()
    """``auth.mode: token``'s list of {tenant, sha256, scopes, expires_at}; several per tenant.
    SIGHUP reloads them from the config file."""

    @model_validator(mode="after")
    def _tokens_match_the_mode(self) -> AuthConfig:
        if self.mode == "token" and not self.tokens:
            raise ValueError("auth.tokens: auth.mode: token needs at least one token")
        if self.mode == "none" and self.tokens:
            raise ValueError("auth.tokens: tokens are only used with auth.mode: token")
        seen: dict[str, int] = {}
        for index, token in enumerate(self.tokens):
            first = seen.get(token.sha256)
            if first is not None:
                raise ValueError(
                    f"auth.tokens.{index}.sha256: the same digest as auth.tokens.{first}"
                )
            seen[token.sha256] = index
        return self
