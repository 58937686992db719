"""Credentials in call metadata to a principal, or the refusal and its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sluice.ops.auth import (
    AuthConfig,
    AuthError,
    NoAuth,
    PermissionDenied,
    Principal,
    TokenAuth,
    TokenConfig,
    Unauthenticated,
    build_authenticator,
    token_digest,
)

NOW = datetime(2030, 6, 1, tzinfo=UTC)
TOKENS = (
    TokenConfig(tenant="acme", sha256=token_digest("acme-ingest")),
    TokenConfig(tenant="acme", sha256=token_digest("acme-query"), scopes=("query",)),
    TokenConfig(
        tenant="globex", sha256=token_digest("globex-old"), expires_at=NOW - timedelta(seconds=1)
    ),
    TokenConfig(
        tenant="globex", sha256=token_digest("globex-new"), expires_at=NOW + timedelta(days=1)
    ),
)


@pytest.fixture
def auth() -> TokenAuth:
    return TokenAuth(TOKENS, clock=lambda: NOW)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


@pytest.mark.parametrize(
    ("metadata", "error", "reason"),
    [
        (None, Unauthenticated, "missing"),
        ([("user-agent", "x")], Unauthenticated, "missing"),
        ([("authorization", "Basic YWNtZTpwdw==")], Unauthenticated, "malformed"),
        ([("authorization", "Bearer")], Unauthenticated, "malformed"),
        ([("authorization", "Bearer   ")], Unauthenticated, "malformed"),
        (bearer("acme-ingest") + bearer("acme-ingest"), Unauthenticated, "malformed"),
        (bearer("wrong"), Unauthenticated, "unknown"),
        (bearer("ACME-INGEST"), Unauthenticated, "unknown"),
        (bearer("globex-old"), Unauthenticated, "expired"),
        (bearer("acme-query"), PermissionDenied, "scope"),
        ([*bearer("acme-ingest"), ("sluice-tenant", "globex")], PermissionDenied, "tenant"),
    ],
)
def test_refusals(
    auth: TokenAuth,
    metadata: list[tuple[str, str]] | None,
    error: type[AuthError],
    reason: str,
) -> None:
    with pytest.raises(error) as caught:
        auth.authenticate(metadata, "ingest")
    assert caught.value.reason == reason
    for _, value in metadata or ():
        secret = value.partition(" ")[2]
        if secret:
            assert secret not in caught.value.message


@pytest.mark.parametrize(
    ("metadata", "grpc", "http"),
    [
        (
            None,
            "credentials required: send 'authorization: Bearer <token>' metadata",
            "credentials required: send 'authorization: Bearer <token>' header",
        ),
        (
            [("authorization", "Basic YWNtZTpwdw==")],
            "the authorization metadata must be one 'Bearer <token>'",
            "the authorization header must be one 'Bearer <token>'",
        ),
        (bearer("wrong"), "the bearer token is not valid", "the bearer token is not valid"),
    ],
)
def test_a_refusal_says_metadata_to_grpc_callers_and_header_to_http_ones(
    auth: TokenAuth, metadata: list[tuple[str, str]] | None, grpc: str, http: str
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        auth.authenticate(metadata, "ingest")
    assert (caught.value.message, caught.value.http_message) == (grpc, http)


@pytest.mark.parametrize(
    ("metadata", "tenant"),
    [
        (bearer("acme-ingest"), "acme"),
        ([("authorization", "bearer acme-ingest")], "acme"),
        ([("authorization", b"Bearer acme-ingest")], "acme"),
        ([*bearer("acme-ingest"), ("sluice-tenant", "acme")], "acme"),
        (bearer("globex-new"), "globex"),
    ],
)
def test_the_tenant_comes_from_the_token(
    auth: TokenAuth, metadata: list[tuple[str, str | bytes]], tenant: str
) -> None:
    assert auth.authenticate(metadata, "ingest").tenant == tenant


def test_the_principal_carries_scopes_and_expiry(auth: TokenAuth) -> None:
    assert auth.authenticate(bearer("acme-query"), "query") == Principal(
        "acme", frozenset({"query"}), None
    )
    assert auth.authenticate(bearer("globex-new"), "ingest").expires_at == NOW + timedelta(days=1)


def test_a_token_expires_at_its_instant() -> None:
    token = TokenConfig(tenant="t", sha256=token_digest("tok"), expires_at=NOW)
    with pytest.raises(Unauthenticated, match="expired"):
        TokenAuth([token], clock=lambda: NOW).authenticate(bearer("tok"), "ingest")
    early = NOW - timedelta(microseconds=1)
    assert TokenAuth([token], clock=lambda: early).authenticate(bearer("tok"), "ingest")


def test_no_auth_is_the_default_tenant_unless_the_call_names_another() -> None:
    auth = build_authenticator(AuthConfig(default_tenant="home"))
    assert isinstance(auth, NoAuth)
    assert auth.authenticate(None, "ingest") == Principal("home", frozenset({"ingest", "query"}))
    assert auth.authenticate(bearer("anything"), "query").tenant == "home"
    with pytest.raises(PermissionDenied) as caught:
        auth.authenticate([("sluice-tenant", "other")], "ingest")
    assert caught.value.reason == "tenant"


def test_token_mode_builds_token_auth() -> None:
    auth = build_authenticator(AuthConfig(mode="token", tokens=TOKENS[:1]))
    assert auth.authenticate(bearer("acme-ingest"), "ingest").tenant == "acme"
