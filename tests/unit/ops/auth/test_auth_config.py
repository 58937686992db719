"""auth.* and server.tls in the config file: what loads, and what is refused naming its key."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from sluice.core.config.base import ConfigError
from sluice.core.config.settings import Settings, load_settings
from sluice.ops.auth import token_digest
from sluice.runtime.cli import main
from tests.support.certs import issue, server_tls

DIGEST = token_digest("s3cret-token")


def load(tmp_path: Path, data: dict[str, Any]) -> Settings:
    path = tmp_path / "sluice.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_settings(path, environ={})


def token_auth(**token: Any) -> dict[str, Any]:
    return {"mode": "token", "tokens": [{"tenant": "acme", "sha256": DIGEST, **token}]}


def test_a_token_loads_with_its_defaults(tmp_path: Path) -> None:
    auth = load(tmp_path, {"auth": token_auth(sha256=DIGEST.upper().replace("SHA256", "sha256"))})
    (token,) = auth.auth.tokens
    assert (token.tenant, token.sha256, token.scopes, token.expires_at) == (
        "acme",
        DIGEST,
        ("ingest",),
        None,
    )


def test_scopes_and_expiry_load(tmp_path: Path) -> None:
    auth = token_auth(scopes=["query", "ingest", "query"], expires_at="2030-01-02T03:04:05Z")
    settings = load(tmp_path, {"auth": auth})
    (token,) = settings.auth.tokens
    assert token.scopes == ("query", "ingest")
    assert token.expires_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("auth", "key", "words"),
    [
        (token_auth(sha256="s3cret-token"), "auth.tokens.0.sha256", "never the token itself"),
        (token_auth(sha256="md5:" + "0" * 64), "auth.tokens.0.sha256", "sha256:"),
        (token_auth(sha256="sha256:" + "0" * 63), "auth.tokens.0.sha256", "64 hex digits"),
        (token_auth(sha256="sha256:" + "g" * 64), "auth.tokens.0.sha256", "64 hex digits"),
        (token_auth(tenant="a b"), "auth.tokens.0.tenant", "pattern"),
        (token_auth(tenant=""), "auth.tokens.0.tenant", "pattern"),
        (token_auth(scopes=["admin"]), "auth.tokens.0.scopes.0", "ingest"),
        (token_auth(scopes=[]), "auth.tokens.0.scopes", "at least one scope"),
        (token_auth(expires_at="2030-01-02T03:04:05"), "auth.tokens.0.expires_at", "timezone"),
        (token_auth(token="x"), "auth.tokens.0.token", "unknown key"),
        ({"mode": "token"}, "auth.tokens", "at least one token"),
        ({"mode": "none", "tokens": token_auth()["tokens"]}, "auth.tokens", "auth.mode: token"),
        ({"mode": "oauth"}, "auth.mode", "'none' or 'token'"),
        (
            {"mode": "token", "tokens": [{"tenant": "a", "sha256": DIGEST}] * 2},
            "auth.tokens.1.sha256",
            "same digest as auth.tokens.0",
        ),
    ],
)
def test_bad_auth_config_names_the_key(
    tmp_path: Path, auth: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"auth": auth})
    assert key in str(caught.value)
    assert words in str(caught.value)


def test_a_plaintext_token_is_never_echoed_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"auth": token_auth(sha256="hunter2-plaintext")})
    assert "hunter2" not in str(caught.value)


def test_auth_none_is_refused_off_loopback_and_token_auth_is_not(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"auth\.mode: none is only allowed on a loopback"):
        load(tmp_path, {"server": {"listen": "0.0.0.0:50051"}})
    certs = issue(trustme.CA(), tmp_path / "certs", "server")
    settings = load(
        tmp_path,
        {"server": {"listen": "0.0.0.0:50051", "tls": server_tls(certs)}, "auth": token_auth()},
    )
    assert settings.server.tls is not None


def test_tls_files_must_exist_and_match(tmp_path: Path) -> None:
    ca = trustme.CA()
    one = issue(ca, tmp_path / "one", "server")
    other = issue(ca, tmp_path / "other", "server")
    with pytest.raises(ConfigError, match=r"server.tls.cert_file: Path does not point to a file"):
        load(tmp_path, {"server": {"tls": {"cert_file": "/nonexistent", "key_file": str(one.key)}}})
    mismatched = {"cert_file": str(one.cert), "key_file": str(other.key)}
    with pytest.raises(ConfigError, match=r"server.tls: .*do not make a certificate and its key"):
        load(tmp_path, {"server": {"tls": mismatched}})
    not_a_ca = {**server_tls(one), "client_ca_file": str(one.key)}
    with pytest.raises(ConfigError, match=r"server.tls: .*client_ca_file"):
        load(tmp_path, {"server": {"tls": not_a_ca}})


def test_hash_token_prints_the_digest_of_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-token\n"))
    assert main(["hash-token"]) == 0
    expected = "sha256:" + hashlib.sha256(b"s3cret-token").hexdigest()
    assert capsys.readouterr().out.strip() == expected
