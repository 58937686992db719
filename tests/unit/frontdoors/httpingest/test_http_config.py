"""The ``http`` config section: defaults, key-named errors, loopback-only without auth."""

from __future__ import annotations

import pytest

from sluice.core.config.base import ConfigError
from sluice.core.config.settings import load_settings


def settings_with(**env: str) -> object:
    return load_settings(None, environ={f"SLUICE__{k.upper()}": v for k, v in env.items()})


def test_disabled_by_default_on_its_own_port() -> None:
    http = load_settings(None, environ={}).http
    assert (http.enabled, http.listen, http.tls) == (False, "127.0.0.1:8081", None)


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"http__listen": "nowhere"}, "http.listen"),
        ({"http__max_body_bytes": "0"}, "http.max_body_bytes"),
        ({"http__colour": "blue"}, "http.colour"),
        ({"http__enabled": "true", "http__listen": "0.0.0.0:8081"}, "http.listen"),
    ],
)
def test_errors_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        settings_with(**env)


def test_a_public_address_is_fine_while_disabled() -> None:
    settings_with(http__listen="0.0.0.0:8081")
