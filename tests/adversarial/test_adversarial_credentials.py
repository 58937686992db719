"""Wrong, malformed, expired and other tenants' credentials against a token-auth server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.ops.auth import token_digest
from sluice.v1.ingest_pb2 import AckStatus
from tests.adversarial.campaign import FUZZ, check_error, count, outcome
from tests.support.ingest import batch, push, reading, stream
from tests.support.servers import SluiceServer

ACME, GLOBEX, OLD = "acme-adv-4f1d", "globex-adv-9e2c", "old-adv-77aa"
TOKENS = [
    {"tenant": "acme", "sha256": token_digest(ACME)},
    {"tenant": "globex", "sha256": token_digest(GLOBEX)},
    {"tenant": "acme", "sha256": token_digest(OLD), "expires_at": "2000-01-01T00:00:00+00:00"},
]
PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


@pytest.fixture(scope="module")
def server(tansu: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceServer]:
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "auth": {"mode": "token", "tokens": TOKENS},
    }
    with SluiceServer(config, tmp_path_factory.mktemp("credentials")) as srv:
        yield srv
        for secret in (ACME, GLOBEX, OLD):
            assert secret not in srv.logs()


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


@settings(FUZZ, max_examples=100)
@given(value=st.one_of(PRINTABLE, PRINTABLE.map(lambda t: f"Bearer {t}")))
def test_any_wrong_authorization_is_unauthenticated(server: SluiceServer, value: str) -> None:
    count("hypothesis: credentials")
    answer = outcome(
        lambda: push(server.target, batch([reading()], 1), 10, [("authorization", value)])
    )
    assert isinstance(answer, grpc.RpcError)
    check_error(answer, {grpc.StatusCode.UNAUTHENTICATED})


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        (bearer(OLD), grpc.StatusCode.UNAUTHENTICATED),
        (bearer(ACME[:-1]), grpc.StatusCode.UNAUTHENTICATED),
        (bearer(ACME + " "), grpc.StatusCode.OK),
        ([*bearer(ACME), *bearer(GLOBEX)], grpc.StatusCode.UNAUTHENTICATED),
        ([*bearer(ACME), ("sluice-tenant", "globex")], grpc.StatusCode.PERMISSION_DENIED),
        ([*bearer(GLOBEX), ("sluice-tenant", "acme")], grpc.StatusCode.PERMISSION_DENIED),
        ([("authorization", f"Bearer {token_digest(ACME)}")], grpc.StatusCode.UNAUTHENTICATED),
    ],
    ids=[
        "expired",
        "truncated",
        "trailing-space",
        "two-tokens",
        "acme-as-globex",
        "globex-as-acme",
        "the-digest-itself",
    ],
)
def test_credential_cases(
    server: SluiceServer, metadata: list[tuple[str, str]], code: grpc.StatusCode
) -> None:
    count("hand-written cases")
    answer = outcome(lambda: stream(server.target, [batch([reading()], 1)], 10, metadata))
    if code == grpc.StatusCode.OK:
        assert not isinstance(answer, grpc.RpcError), answer
        return
    assert isinstance(answer, grpc.RpcError)
    check_error(answer, {code})


def test_another_tenants_session_and_seq_get_their_own_answer(server: SluiceServer) -> None:
    """Replaying acme's (session_id, seq) as globex is a new batch, not acme's remembered Ack."""
    count("hand-written cases")
    session = str(uuid.uuid4())
    (acme,) = stream(server.target, [batch([reading("x-1")], 1, session)], metadata=bearer(ACME))
    two = batch([reading("x-1"), reading("x-2")], 1, session)
    (globex,) = stream(server.target, [two], metadata=bearer(GLOBEX))
    assert (acme.status, acme.accepted) == (AckStatus.ACK_STATUS_OK, 1)
    assert (globex.status, globex.accepted) == (AckStatus.ACK_STATUS_OK, 2)
    (again,) = stream(server.target, [two], metadata=bearer(ACME))
    assert again.accepted == 1, "acme's own resend is answered from memory"
